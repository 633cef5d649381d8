// GGUF v2/v3 reader over a memory-mapped file. Every count, size, offset and type the file claims is
// validated before use: a malformed or truncated file yields an Error naming the problem (and the byte
// offset), never a crash or an unbounded allocation.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"
#include "format/ggml_type.h"
#include "format/gguf_value.h"

namespace specula::format {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint64_t kGgufDefaultAlignment = 32;
inline constexpr int kGgufMaxDims = 4;
inline constexpr int kGgufMaxArrayDepth = 8;  // array nesting levels accepted (1 = a flat array)

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml "ne" order: dims[0] is the contiguous (row) dimension
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;        // relative to the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;

  int64_t rows() const;       // product of dims[1..]
  std::string shape_string() const;  // "[ne0, ne1, ...]"
};

class GgufFile {
 public:
  // Maps and parses a file. Errors: kNotFound/kIo for the OS, kCorruptData/kUnsupported for content.
  static Result<GgufFile> open(const std::string& path);
  // Parses bytes that the caller keeps alive for the lifetime of the returned object (fuzzing, tests).
  static Result<GgufFile> parse(std::span<const uint8_t> bytes, std::string display_name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;

  // Typed metadata access: kNotFound when absent, kCorruptData when of the wrong type.
  Result<std::string> get_string(std::string_view key) const;
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<double> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<const GgufArray*> get_array(std::string_view key) const;
  // The architecture prefix ("general.architecture"), or "" when absent.
  std::string architecture() const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // The tensor's bytes inside the mapping (validated to lie inside the file at parse time).
  std::span<const uint8_t> tensor_data(const GgufTensorInfo& info) const;

 private:
  friend class GgufParser;
  std::optional<MappedFile> file_;
  std::span<const uint8_t> bytes_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace specula::format
