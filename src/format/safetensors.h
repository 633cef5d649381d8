// safetensors reader (memory-mapped): single files and sharded HF models (model.safetensors.index.json).
// Every header field is validated (dtype, shape, data_offsets inside the file and matching
// dtype x shape, no overlaps), so a malformed file yields an Error naming the problem, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mapped_file.h"
#include "base/result.h"

namespace specula::format {

// The dtypes specula reads: floats for weights, integers for index tensors (e.g. the MTP assistant's
// int64 `token_ordering`). Any other dtype is kUnsupported.
enum class SafetensorsDtype { kF32, kF16, kBF16, kI32, kI64 };

const char* safetensors_dtype_name(SafetensorsDtype dtype);  // "F32", "BF16", ...
size_t safetensors_dtype_size(SafetensorsDtype dtype);       // bytes per element

inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;  // the limit of the reference library

struct SafetensorsTensor {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;      // row-major (PyTorch order): shape.back() is the contiguous dimension
  uint64_t n_elements = 0;
  std::span<const uint8_t> bytes;  // inside the mapping, n_elements * dtype size; NOT aligned for the dtype
  size_t shard = 0;                // index into SafetensorsModel::shards() (0 for a single file)

  std::string shape_string() const;  // "[d0, d1, ...]"
};

// One .safetensors file.
class SafetensorsFile {
 public:
  // Errors: kNotFound/kIo from the OS, kCorruptData for malformed content, kUnsupported for dtypes.
  static Result<SafetensorsFile> open(const std::string& path);
  // Parses bytes that the caller keeps alive for the lifetime of the returned object (tests, fuzzing).
  static Result<SafetensorsFile> parse(std::span<const uint8_t> bytes, std::string display_name);

  const std::string& path() const { return path_; }
  uint64_t header_bytes() const { return header_bytes_; }
  // The "__metadata__" object (string -> string); empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensors in order of their data offsets.
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;

 private:
  friend class SafetensorsParser;
  friend class SafetensorsModel;  // sets SafetensorsTensor::shard
  std::optional<MappedFile> file_;
  std::span<const uint8_t> bytes_;
  std::string path_;
  uint64_t header_bytes_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// A model: one file, or the shards a model.safetensors.index.json names.
class SafetensorsModel {
 public:
  // path: a .safetensors file, a *.safetensors.index.json file, or a directory that holds
  // model.safetensors.index.json (preferred) or model.safetensors. The index's weight_map must agree
  // with the shards' contents and no tensor may appear in two shards (kCorruptData otherwise).
  static Result<SafetensorsModel> open(const std::string& path);

  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  // The first shard's __metadata__.
  const std::map<std::string, std::string>& metadata() const;
  size_t n_tensors() const { return index_.size(); }
  std::vector<std::string> tensor_names() const;  // sorted
  const SafetensorsTensor* find(std::string_view name) const;
  // As find, but kNotFound naming the tensor when absent.
  Result<const SafetensorsTensor*> get(std::string_view name) const;

  // The tensor's values converted to float32 (F32/F16/BF16; integer dtypes are kUnsupported).
  Result<std::vector<float>> read_f32(std::string_view name) const;
  // The values of an I32/I64 tensor widened to int64 (float dtypes are kUnsupported).
  Result<std::vector<int64_t>> read_i64(std::string_view name) const;

 private:
  Status build_index(const std::map<std::string, std::string>* weight_map, const std::string& index_path);

  std::vector<SafetensorsFile> shards_;
  std::unordered_map<std::string, std::pair<size_t, size_t>> index_;  // name -> (shard, tensor)
};

// Converts one tensor's values (F32/F16/BF16) to float32.
Result<std::vector<float>> safetensors_to_f32(const SafetensorsTensor& t);

}  // namespace specula::format
