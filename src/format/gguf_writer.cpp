#include "format/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include <fmt/ranges.h>

#include "format/gguf_reader.h"

namespace specula::format {
namespace {

Error invalid(std::string message) { return Error(ErrorCode::kInvalidArgument, std::move(message)); }

// Checks that the payload matches the declared type (and the range of narrow integer types).
Status check_scalar(const GgufValue& v, const std::string& where) {
  auto range = [&](auto lo, auto hi) -> Status {
    if (const auto* u = std::get_if<uint64_t>(&v.data)) {
      if (*u <= static_cast<uint64_t>(hi)) return ok_status();
      return invalid(fmt::format("metadata '{}': value {} does not fit in {}", where, *u, gguf_type_name(v.type)));
    }
    if (const auto* i = std::get_if<int64_t>(&v.data)) {
      if (*i >= static_cast<int64_t>(lo) && (*i < 0 || static_cast<uint64_t>(*i) <= static_cast<uint64_t>(hi))) {
        return ok_status();
      }
      return invalid(fmt::format("metadata '{}': value {} does not fit in {}", where, *i, gguf_type_name(v.type)));
    }
    return invalid(fmt::format("metadata '{}': {} value does not hold an integer", where, gguf_type_name(v.type)));
  };
  switch (v.type) {
    case GgufType::kUint8: return range(0, std::numeric_limits<uint8_t>::max());
    case GgufType::kInt8: return range(std::numeric_limits<int8_t>::min(), std::numeric_limits<int8_t>::max());
    case GgufType::kUint16: return range(0, std::numeric_limits<uint16_t>::max());
    case GgufType::kInt16: return range(std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max());
    case GgufType::kUint32: return range(0, std::numeric_limits<uint32_t>::max());
    case GgufType::kInt32: return range(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
    case GgufType::kUint64: return range(0, std::numeric_limits<uint64_t>::max());
    case GgufType::kInt64: return range(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
    case GgufType::kFloat32:
    case GgufType::kFloat64:
      if (std::holds_alternative<double>(v.data)) return ok_status();
      return invalid(fmt::format("metadata '{}': {} value does not hold a float", where, gguf_type_name(v.type)));
    case GgufType::kBool:
      if (std::holds_alternative<bool>(v.data)) return ok_status();
      return invalid(fmt::format("metadata '{}': bool value does not hold a bool", where));
    case GgufType::kString:
      if (std::holds_alternative<std::string>(v.data)) return ok_status();
      return invalid(fmt::format("metadata '{}': string value does not hold a string", where));
    case GgufType::kArray: break;
  }
  return invalid(fmt::format("metadata '{}': unknown value type {}", where, static_cast<uint32_t>(v.type)));
}

// depth counts the arrays enclosing v (0 for a top-level value).
Status check_value(const GgufValue& v, const std::string& key, int depth) {
  if (v.type != GgufType::kArray) return check_scalar(v, key);
  const GgufArray* arr = v.as_array();
  if (arr == nullptr) return invalid(fmt::format("metadata '{}': array value does not hold an array", key));
  if (depth + 1 > kGgufMaxArrayDepth) {
    return invalid(fmt::format("metadata '{}': arrays nested deeper than {}", key, kGgufMaxArrayDepth));
  }
  if (!gguf_type_known(static_cast<uint32_t>(arr->element_type))) {
    return invalid(fmt::format("metadata '{}': unknown array element type {}", key,
                               static_cast<uint32_t>(arr->element_type)));
  }
  for (size_t i = 0; i < arr->items.size(); ++i) {
    const GgufValue& item = arr->items[i];
    if (item.type != arr->element_type) {
      return invalid(fmt::format("metadata '{}': item {} is {} in an array of {}", key, i, gguf_type_name(item.type),
                                 gguf_type_name(arr->element_type)));
    }
    SPECULA_RETURN_IF_ERROR(check_value(item, key, depth + 1));
  }
  return ok_status();
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>& out) : out_(out) {}
  template <typename T>
  void pod(T v) {
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &v, sizeof(T));
  }
  void string(std::string_view s) {
    pod<uint64_t>(s.size());
    const size_t at = out_.size();
    out_.resize(at + s.size());
    if (!s.empty()) std::memcpy(out_.data() + at, s.data(), s.size());
  }
  void value(const GgufValue& v);

 private:
  std::vector<uint8_t>& out_;
};

// Writes a value without its type tag (the caller wrote it). Values were validated by set().
void ByteSink::value(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kUint8: pod(static_cast<uint8_t>(*v.as_uint())); break;
    case GgufType::kInt8: pod(static_cast<int8_t>(*v.as_int())); break;
    case GgufType::kUint16: pod(static_cast<uint16_t>(*v.as_uint())); break;
    case GgufType::kInt16: pod(static_cast<int16_t>(*v.as_int())); break;
    case GgufType::kUint32: pod(static_cast<uint32_t>(*v.as_uint())); break;
    case GgufType::kInt32: pod(static_cast<int32_t>(*v.as_int())); break;
    case GgufType::kUint64: pod(std::get<uint64_t>(v.data)); break;
    case GgufType::kInt64: pod(*v.as_int()); break;
    case GgufType::kFloat32: pod(static_cast<float>(std::get<double>(v.data))); break;
    case GgufType::kFloat64: pod(std::get<double>(v.data)); break;
    case GgufType::kBool: pod<uint8_t>(std::get<bool>(v.data) ? 1 : 0); break;
    case GgufType::kString: string(std::get<std::string>(v.data)); break;
    case GgufType::kArray: {
      const auto& arr = std::get<GgufArray>(v.data);
      pod(static_cast<uint32_t>(arr.element_type));
      pod<uint64_t>(arr.items.size());
      for (const auto& item : arr.items) value(item);
      break;
    }
  }
}

}  // namespace

Status GgufWriter::set(std::string key, GgufValue value) {
  if (key.empty()) return invalid("metadata key is empty");
  if (key.size() > std::numeric_limits<uint16_t>::max()) {
    return invalid(fmt::format("metadata key '{}' is longer than 65535 bytes", printable(key)));
  }
  if (find(key) != nullptr) return invalid(fmt::format("duplicate metadata key '{}'", printable(key)));
  SPECULA_RETURN_IF_ERROR(check_value(value, printable(key), 0));
  if (key == "general.alignment") {
    const auto a = value.as_uint();
    if (value.type != GgufType::kUint32 || !a || *a == 0 || (*a & (*a - 1)) != 0 || *a > kGgufMaxAlignment) {
      return invalid(fmt::format("general.alignment must be a u32 power of two up to {}, got {} {}", kGgufMaxAlignment,
                                 gguf_type_name(value.type), value.to_display()));
    }
    alignment_ = *a;
  }
  metadata_.emplace_back(std::move(key), std::move(value));
  return ok_status();
}

bool GgufWriter::erase(std::string_view key) {
  for (auto it = metadata_.begin(); it != metadata_.end(); ++it) {
    if (it->first == key) {
      if (key == "general.alignment") alignment_ = kGgufDefaultAlignment;
      metadata_.erase(it);
      return true;
    }
  }
  return false;
}

const GgufValue* GgufWriter::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Status GgufWriter::check_tensor(const std::string& name, GgmlType type, const std::vector<int64_t>& dims,
                                size_t n_bytes) const {
  if (name.empty()) return invalid("tensor name is empty");
  if (name.size() > kGgufMaxTensorName) {
    return invalid(fmt::format("tensor name '{}' is longer than {} bytes", printable(name), kGgufMaxTensorName));
  }
  if (tensor_index_.count(name) != 0) return invalid(fmt::format("duplicate tensor name '{}'", printable(name)));
  const auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  if (!traits) return invalid(fmt::format("tensor '{}' has unknown type id {}", name, static_cast<uint32_t>(type)));
  if (dims.empty() || dims.size() > static_cast<size_t>(kGgufMaxDims)) {
    return invalid(fmt::format("tensor '{}' has {} dimensions (1 to {} allowed)", name, dims.size(), kGgufMaxDims));
  }
  uint64_t n = 1;
  for (const int64_t d : dims) {
    if (d < 1) return invalid(fmt::format("tensor '{}' has dimension {} (must be >= 1)", name, d));
    if (n > (uint64_t{1} << 50) / static_cast<uint64_t>(d)) {
      return invalid(fmt::format("tensor '{}' has more than 2^50 elements", name));
    }
    n *= static_cast<uint64_t>(d);
  }
  if (static_cast<uint64_t>(dims[0]) % traits->block_size != 0) {
    return invalid(fmt::format("tensor '{}' of type {} has row length {}, not a multiple of the block size {}", name,
                               traits->name, dims[0], traits->block_size));
  }
  const uint64_t want = n / traits->block_size * traits->block_bytes;
  if (want != n_bytes) {
    return invalid(fmt::format("tensor '{}' of type {} and shape {} needs {} bytes, got {}", name, traits->name,
                               fmt::format("[{}]", fmt::join(dims, ", ")), want, n_bytes));
  }
  return ok_status();
}

void GgufWriter::push_tensor(Tensor t) {
  tensor_index_.emplace(t.name, tensors_.size());
  tensors_.push_back(std::move(t));
}

Status GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<int64_t> dims,
                              std::span<const uint8_t> bytes) {
  SPECULA_RETURN_IF_ERROR(check_tensor(name, type, dims, bytes.size()));
  push_tensor(Tensor{std::move(name), type, std::move(dims), {}, bytes});
  return ok_status();
}

Status GgufWriter::add_tensor_copy(std::string name, GgmlType type, std::vector<int64_t> dims,
                                   std::vector<uint8_t> bytes) {
  SPECULA_RETURN_IF_ERROR(check_tensor(name, type, dims, bytes.size()));
  Tensor t{std::move(name), type, std::move(dims), std::move(bytes), {}};
  t.bytes = t.owned;  // the vector's buffer does not move when the Tensor does
  push_tensor(std::move(t));
  return ok_status();
}

std::vector<uint8_t> GgufWriter::header() const {
  std::vector<uint8_t> out;
  ByteSink sink(out);
  sink.pod(kGgufMagic);
  sink.pod<uint32_t>(3);
  sink.pod<uint64_t>(tensors_.size());
  sink.pod<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    sink.string(key);
    sink.pod(static_cast<uint32_t>(value.type));
    sink.value(value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    sink.string(t.name);
    sink.pod<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (const int64_t d : t.dims) sink.pod(d);
    sink.pod(static_cast<uint32_t>(t.type));
    sink.pod(offset);
    offset = align_up(offset + t.bytes.size(), alignment_);
  }
  out.resize(align_up(out.size(), alignment_), 0);
  return out;
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> out = header();
  for (const auto& t : tensors_) {
    out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    out.resize(align_up(out.size(), alignment_), 0);
  }
  return out;
}

namespace {

Status write_all(int fd, const uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::kIo, "{}: write failed: {}", path, std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return ok_status();
}

}  // namespace

Status GgufWriter::write(const std::string& path) const {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(ErrorCode::kIo, "{}: cannot create: {}", tmp, std::strerror(errno));
  auto body = [&]() -> Status {
    const std::vector<uint8_t> head = header();
    SPECULA_RETURN_IF_ERROR(write_all(fd, head.data(), head.size(), tmp));
    static const uint8_t kZeros[kGgufMaxAlignment] = {};
    for (const auto& t : tensors_) {
      SPECULA_RETURN_IF_ERROR(write_all(fd, t.bytes.data(), t.bytes.size(), tmp));
      const size_t pad = static_cast<size_t>(align_up(t.bytes.size(), alignment_) - t.bytes.size());
      SPECULA_RETURN_IF_ERROR(write_all(fd, kZeros, pad, tmp));
    }
    if (::fsync(fd) != 0) return make_error(ErrorCode::kIo, "{}: fsync failed: {}", tmp, std::strerror(errno));
    return ok_status();
  };
  Status st = body();
  if (::close(fd) != 0 && st.ok()) st = make_error(ErrorCode::kIo, "{}: close failed: {}", tmp, std::strerror(errno));
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = make_error(ErrorCode::kIo, "cannot rename {} to {}: {}", tmp, path, std::strerror(errno));
  }
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

}  // namespace specula::format
