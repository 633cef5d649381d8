// Read-only memory-mapped file (RAII). Used for GGUF and safetensors weights so that loading costs no
// copy and the page cache is shared between processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/result.h"

namespace specula {

class MappedFile {
 public:
  // Maps the whole file read-only. Errors: kNotFound, kIo (with the OS reason).
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into memory. Errors as MappedFile::open.
Result<std::string> read_file(const std::string& path);

}  // namespace specula
