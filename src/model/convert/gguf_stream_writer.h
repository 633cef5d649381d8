// Writes a GGUF file whose tensor bytes are produced one piece at a time, so that a model larger than
// memory (a 31B conversion, a synthetic E4B) never has to be held whole. The metadata comes from a
// GgufWriter (which validated it and defines its encoding); the file is byte-identical to what
// GgufWriter::write would produce for the same metadata and tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "format/ggml_type.h"
#include "format/gguf_writer.h"

namespace specula::model {

struct StreamTensorInfo {
  std::string name;
  format::GgmlType type = format::GgmlType::kF32;
  std::vector<int64_t> dims;  // ggml ne order
  uint64_t n_bytes() const;
};

// Usage: create() writes the header to `path + ".tmp.<pid>"`; write() appends the tensors' bytes in
// declaration order (a tensor may arrive in several pieces; padding between tensors is added here);
// finish() checks that every byte arrived, syncs and renames over `path`. Destroying an unfinished
// writer removes the temp file. Not thread-safe.
class GgufStreamWriter {
 public:
  // Errors: kInvalidArgument for a tensor the GGUF format cannot describe (name, dims, block size), kIo.
  static Result<std::unique_ptr<GgufStreamWriter>> create(const std::string& path, const format::GgufWriter& metadata,
                                                          std::vector<StreamTensorInfo> tensors);
  ~GgufStreamWriter();
  GgufStreamWriter(const GgufStreamWriter&) = delete;
  GgufStreamWriter& operator=(const GgufStreamWriter&) = delete;

  // Errors: more bytes than the remaining tensors hold (kInternal: a caller bug), kIo.
  Status write(std::span<const uint8_t> bytes);
  Status finish();

  size_t current_tensor() const { return current_; }
  uint64_t bytes_written() const { return written_total_; }

 private:
  GgufStreamWriter(std::string path, std::string tmp, int fd, std::vector<StreamTensorInfo> tensors, uint64_t alignment)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd), tensors_(std::move(tensors)), alignment_(alignment) {}
  Status write_raw(const uint8_t* data, size_t n);
  Status pad_current();

  std::string path_, tmp_;
  int fd_ = -1;
  std::vector<StreamTensorInfo> tensors_;
  uint64_t alignment_ = 32;
  size_t current_ = 0;  // tensor being written
  uint64_t written_in_current_ = 0;
  uint64_t written_total_ = 0;
  bool finished_ = false;
};

// The header bytes (everything before the data section, padded to the alignment) that GgufWriter would
// write for this metadata and these tensors. Exposed for tests.
Result<std::vector<uint8_t>> gguf_stream_header(const format::GgufWriter& metadata,
                                                const std::vector<StreamTensorInfo>& tensors);

}  // namespace specula::model
