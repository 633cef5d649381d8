// GGUF v3 writer: metadata of every value type (arrays nested to any depth the reader accepts) and
// tensors laid out at `general.alignment` (default 32). Used by convert, quantize and synth.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/result.h"
#include "format/ggml_type.h"
#include "format/gguf_reader.h"
#include "format/gguf_value.h"

namespace specula::format {

inline constexpr uint32_t kGgufMaxAlignment = 65536;
inline constexpr size_t kGgufMaxTensorName = 63;     // llama.cpp's GGML_MAX_NAME - 1

// Builds a GGUF file in memory (metadata values, tensor descriptions, and either copies of or spans
// onto tensor bytes) and writes it in one go. Every setter validates its input and returns
// kInvalidArgument naming the key or tensor on a problem; the writer is unchanged by a failed call.
// Not thread-safe.
class GgufWriter {
 public:
  // Metadata, kept in insertion order. Errors: empty or duplicate key, a value whose payload does not
  // match its type (e.g. u8 holding 300), mixed array element types, arrays nested deeper than
  // kGgufMaxArrayDepth, and `general.alignment` that is not a u32 power of two <= kGgufMaxAlignment.
  Status set(std::string key, GgufValue value);
  Status set_u8(std::string key, uint8_t v) { return set(std::move(key), GgufValue::u8(v)); }
  Status set_i8(std::string key, int8_t v) { return set(std::move(key), GgufValue::i8(v)); }
  Status set_u16(std::string key, uint16_t v) { return set(std::move(key), GgufValue::u16(v)); }
  Status set_i16(std::string key, int16_t v) { return set(std::move(key), GgufValue::i16(v)); }
  Status set_u32(std::string key, uint32_t v) { return set(std::move(key), GgufValue::u32(v)); }
  Status set_i32(std::string key, int32_t v) { return set(std::move(key), GgufValue::i32(v)); }
  Status set_u64(std::string key, uint64_t v) { return set(std::move(key), GgufValue::u64(v)); }
  Status set_i64(std::string key, int64_t v) { return set(std::move(key), GgufValue::i64(v)); }
  Status set_f32(std::string key, float v) { return set(std::move(key), GgufValue::f32(v)); }
  Status set_f64(std::string key, double v) { return set(std::move(key), GgufValue::f64(v)); }
  Status set_bool(std::string key, bool v) { return set(std::move(key), GgufValue::boolean(v)); }
  Status set_string(std::string key, std::string v) { return set(std::move(key), GgufValue::str(std::move(v))); }
  // A flat array from a range of uint8_t..int64_t, float, double, bool or std::string.
  template <typename Range>
  Status set_array(std::string key, const Range& values) {
    return set(std::move(key), GgufValue::array_of(values));
  }
  // Arrays of arrays: build the value with GgufValue::array(GgufType::kArray, {...}) and call set().

  // Sets `general.alignment` (a u32 power of two, 1..kGgufMaxAlignment).
  Status set_alignment(uint32_t alignment) { return set("general.alignment", GgufValue::u32(alignment)); }
  // Removes a key; returns whether it was present.
  bool erase(std::string_view key);
  const GgufValue* find(std::string_view key) const;
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  uint64_t alignment() const { return alignment_; }

  // Tensors, written in insertion order. dims are in ggml ne order (dims[0] contiguous), 1..4 of them,
  // each >= 1; dims[0] must be a multiple of the type's block size and bytes.size() must equal the
  // size that type and dims imply. add_tensor borrows: the caller keeps `bytes` alive and unchanged
  // until write()/serialize() return. add_tensor_copy owns a copy.
  Status add_tensor(std::string name, GgmlType type, std::vector<int64_t> dims, std::span<const uint8_t> bytes);
  Status add_tensor_copy(std::string name, GgmlType type, std::vector<int64_t> dims, std::vector<uint8_t> bytes);
  size_t n_tensors() const { return tensors_.size(); }

  // Writes the file to `path + ".tmp.<pid>"`, flushes it to disk, then renames it over `path`, so that a
  // reader never sees a half-written file. Errors: kIo (with the OS reason); the temp file is removed.
  Status write(const std::string& path) const;
  // The whole file as bytes (tests, fuzz seeds, small files).
  std::vector<uint8_t> serialize() const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> dims;
    std::vector<uint8_t> owned;       // empty when borrowed
    std::span<const uint8_t> bytes;   // into `owned` or the caller's memory
  };
  Status check_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& dims,
                      size_t n_bytes) const;
  void push_tensor(Tensor t);
  // Everything before the data section, padded to the alignment; offsets are assigned here in order.
  std::vector<uint8_t> header() const;

  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<Tensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
  uint64_t alignment_ = 32;
};

}  // namespace specula::format
