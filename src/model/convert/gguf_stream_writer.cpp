#include "model/convert/gguf_stream_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "base/check.h"
#include "format/gguf_reader.h"

namespace specula::model {
namespace {

using format::GgufType;
using format::GgufValue;

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Serialized size of a value without its type tag (GGUF v3 layout).
uint64_t value_size(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
      return 8 + v.as_string()->size();
    case GgufType::kArray: {
      uint64_t n = 4 + 8;
      for (const auto& item : v.as_array()->items) n += value_size(item);
      return n;
    }
  }
  return 0;
}

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

Status check_tensors(const std::vector<StreamTensorInfo>& tensors) {
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name.size() > format::kGgufMaxTensorName) {
      return make_error(ErrorCode::kInvalidArgument, "tensor name '{}' must have 1 to {} bytes", t.name,
                        format::kGgufMaxTensorName);
    }
    if (!names.insert(t.name).second) return make_error(ErrorCode::kInvalidArgument, "duplicate tensor '{}'", t.name);
    if (t.dims.empty() || t.dims.size() > static_cast<size_t>(format::kGgufMaxDims)) {
      return make_error(ErrorCode::kInvalidArgument, "tensor '{}' has {} dimensions", t.name, t.dims.size());
    }
    for (const int64_t d : t.dims) {
      if (d < 1) return make_error(ErrorCode::kInvalidArgument, "tensor '{}' has dimension {}", t.name, d);
    }
    const auto& traits = format::ggml_traits(t.type);
    if (t.dims[0] % traits.block_size != 0) {
      return make_error(ErrorCode::kInvalidArgument, "tensor '{}' of type {} has row length {}, not a multiple of {}",
                        t.name, traits.name, t.dims[0], traits.block_size);
    }
  }
  return ok_status();
}

}  // namespace

uint64_t StreamTensorInfo::n_bytes() const {
  uint64_t n = 1;
  for (const int64_t d : dims) n *= static_cast<uint64_t>(d);
  const auto& traits = format::ggml_traits(type);
  return n / traits.block_size * traits.block_bytes;
}

Result<std::vector<uint8_t>> gguf_stream_header(const format::GgufWriter& metadata,
                                                const std::vector<StreamTensorInfo>& tensors) {
  SPECULA_RETURN_IF_ERROR(check_tensors(tensors));
  // The key/value section exactly as GgufWriter encodes it: its serialization of the metadata alone is
  // magic, version, counts (24 bytes), the pairs, then padding.
  uint64_t kv_bytes = 0;
  for (const auto& [k, v] : metadata.metadata()) kv_bytes += 8 + k.size() + 4 + value_size(v);
  const std::vector<uint8_t> meta_only = metadata.serialize();
  SPECULA_CHECK(meta_only.size() >= 24 + kv_bytes, "GGUF metadata encoding size mismatch");
  std::vector<uint8_t> out;
  put<uint32_t>(out, format::kGgufMagic);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors.size());
  put<uint64_t>(out, metadata.metadata().size());
  out.insert(out.end(), meta_only.begin() + 24, meta_only.begin() + 24 + static_cast<ptrdiff_t>(kv_bytes));
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    put<uint64_t>(out, t.name.size());
    out.insert(out.end(), t.name.begin(), t.name.end());
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (const int64_t d : t.dims) put<int64_t>(out, d);
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset = align_up(offset + t.n_bytes(), metadata.alignment());
  }
  out.resize(align_up(out.size(), metadata.alignment()), 0);
  return out;
}

Result<std::unique_ptr<GgufStreamWriter>> GgufStreamWriter::create(const std::string& path,
                                                                   const format::GgufWriter& metadata,
                                                                   std::vector<StreamTensorInfo> tensors) {
  SPECULA_TRY(const auto header, gguf_stream_header(metadata, tensors));
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(ErrorCode::kIo, "{}: cannot create: {}", tmp, std::strerror(errno));
  std::unique_ptr<GgufStreamWriter> w(new GgufStreamWriter(path, tmp, fd, std::move(tensors), metadata.alignment()));
  SPECULA_RETURN_IF_ERROR(w->write_raw(header.data(), header.size()));
  return w;
}

GgufStreamWriter::~GgufStreamWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_.c_str());
}

Status GgufStreamWriter::write_raw(const uint8_t* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd_, data, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::kIo, "{}: write failed: {}", tmp_, std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return ok_status();
}

Status GgufStreamWriter::pad_current() {
  static const uint8_t kZeros[format::kGgufMaxAlignment] = {};
  const uint64_t n = tensors_[current_].n_bytes();
  SPECULA_RETURN_IF_ERROR(write_raw(kZeros, static_cast<size_t>(align_up(n, alignment_) - n)));
  ++current_;
  written_in_current_ = 0;
  return ok_status();
}

Status GgufStreamWriter::write(std::span<const uint8_t> bytes) {
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    while (current_ < tensors_.size() && written_in_current_ == tensors_[current_].n_bytes()) {
      SPECULA_RETURN_IF_ERROR(pad_current());
    }
    if (current_ >= tensors_.size())
      return make_error(ErrorCode::kInternal, "{}: more tensor bytes than declared", tmp_);
    const uint64_t room = tensors_[current_].n_bytes() - written_in_current_;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(room, left));
    SPECULA_RETURN_IF_ERROR(write_raw(p, n));
    p += n;
    left -= n;
    written_in_current_ += n;
    written_total_ += n;
  }
  return ok_status();
}

Status GgufStreamWriter::finish() {
  while (current_ < tensors_.size() && written_in_current_ == tensors_[current_].n_bytes()) {
    SPECULA_RETURN_IF_ERROR(pad_current());
  }
  if (current_ != tensors_.size()) {
    return make_error(ErrorCode::kInternal, "{}: tensor '{}' is incomplete ({} of {} bytes)", tmp_,
                      tensors_[current_].name, written_in_current_, tensors_[current_].n_bytes());
  }
  if (::fsync(fd_) != 0) return make_error(ErrorCode::kIo, "{}: fsync failed: {}", tmp_, std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return make_error(ErrorCode::kIo, "{}: close failed: {}", tmp_, std::strerror(errno));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    return make_error(ErrorCode::kIo, "cannot rename {} to {}: {}", tmp_, path_, std::strerror(errno));
  }
  finished_ = true;
  return ok_status();
}

}  // namespace specula::model
