#include "format/gguf_reader.h"

#include <cstring>
#include <limits>

namespace specula::format {

// Limits that keep a hostile file from causing unbounded allocation. Real files are far below them:
// the Gemma 4 vocabulary has 262,144 tokens and 514,906 merges.
inline constexpr uint64_t kMaxMetadataItems = 1ull << 22;  // values across all arrays of a file
inline constexpr uint64_t kMaxStringBytes = 1ull << 26;    // one string
inline constexpr int kMaxArrayDepth = kGgufMaxArrayDepth;
inline constexpr uint64_t kMaxElements = 1ull << 50;       // one tensor

class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, GgufFile& out) : bytes_(bytes), out_(out) {}
  Status run();

 private:
  template <typename... Args>
  Error corrupt(fmt::format_string<Args...> f, Args&&... args) const {
    return Error(ErrorCode::kCorruptData,
                 fmt::format("{}: ", out_.path_) + fmt::format(f, std::forward<Args>(args)...) +
                     fmt::format(" (at byte {} of {})", pos_, bytes_.size()));
  }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  Result<T> read_pod(const char* what) {
    if (remaining() < sizeof(T)) return corrupt("file truncated while reading {}", what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  Result<std::string> read_string(const char* what);
  Result<GgufValue> read_value(uint32_t type_id, int depth, const std::string& key);
  Result<GgufValue> read_array(int depth, const std::string& key);
  Status read_header(uint64_t& n_tensors, uint64_t& n_kv);
  Status read_metadata(uint64_t n_kv);
  Status read_tensor_infos(uint64_t n_tensors);
  Status finish_layout();
  Status validate_tensor(GgufTensorInfo& info, uint32_t type_id);

  std::span<const uint8_t> bytes_;
  GgufFile& out_;
  uint64_t pos_ = 0;
  uint64_t items_ = 0;
};

Result<std::string> GgufParser::read_string(const char* what) {
  SPECULA_TRY(const uint64_t len, read_pod<uint64_t>(what));
  if (len > remaining()) return corrupt("{} length {} runs past the end of the file", what, len);
  if (len > kMaxStringBytes) return corrupt("{} length {} exceeds the limit of {} bytes", what, len, kMaxStringBytes);
  std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
  pos_ += len;
  return s;
}

Result<GgufValue> GgufParser::read_array(int depth, const std::string& key) {
  if (depth >= kMaxArrayDepth) return corrupt("metadata '{}' nests arrays deeper than {}", key, kMaxArrayDepth);
  SPECULA_TRY(const uint32_t elem_type, read_pod<uint32_t>("array element type"));
  if (!gguf_type_known(elem_type)) return corrupt("metadata '{}' has unknown array element type {}", key, elem_type);
  SPECULA_TRY(const uint64_t count, read_pod<uint64_t>("array length"));
  // Every element takes at least one byte; strings and arrays at least 8 and 12.
  const uint64_t min_size = elem_type == static_cast<uint32_t>(GgufType::kString) ? 8
                            : elem_type == static_cast<uint32_t>(GgufType::kArray) ? 12 : 1;
  if (count > remaining() / min_size) return corrupt("metadata '{}' array of {} elements runs past the end", key, count);
  items_ += count;
  if (items_ > kMaxMetadataItems) return corrupt("metadata holds more than {} array elements", kMaxMetadataItems);
  GgufArray arr;
  arr.element_type = static_cast<GgufType>(elem_type);
  arr.items.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    SPECULA_TRY(auto v, read_value(elem_type, depth + 1, key));
    arr.items.push_back(std::move(v));
  }
  GgufValue value;
  value.type = GgufType::kArray;
  value.data = std::move(arr);
  return value;
}

Result<GgufValue> GgufParser::read_value(uint32_t type_id, int depth, const std::string& key) {
  GgufValue v;
  v.type = static_cast<GgufType>(type_id);
  switch (v.type) {
    case GgufType::kUint8: { SPECULA_TRY(auto x, read_pod<uint8_t>("u8")); v.data = uint64_t{x}; break; }
    case GgufType::kInt8: { SPECULA_TRY(auto x, read_pod<int8_t>("i8")); v.data = int64_t{x}; break; }
    case GgufType::kUint16: { SPECULA_TRY(auto x, read_pod<uint16_t>("u16")); v.data = uint64_t{x}; break; }
    case GgufType::kInt16: { SPECULA_TRY(auto x, read_pod<int16_t>("i16")); v.data = int64_t{x}; break; }
    case GgufType::kUint32: { SPECULA_TRY(auto x, read_pod<uint32_t>("u32")); v.data = uint64_t{x}; break; }
    case GgufType::kInt32: { SPECULA_TRY(auto x, read_pod<int32_t>("i32")); v.data = int64_t{x}; break; }
    case GgufType::kUint64: { SPECULA_TRY(auto x, read_pod<uint64_t>("u64")); v.data = uint64_t{x}; break; }
    case GgufType::kInt64: { SPECULA_TRY(auto x, read_pod<int64_t>("i64")); v.data = int64_t{x}; break; }
    case GgufType::kFloat32: { SPECULA_TRY(auto x, read_pod<float>("f32")); v.data = static_cast<double>(x); break; }
    case GgufType::kFloat64: { SPECULA_TRY(auto x, read_pod<double>("f64")); v.data = x; break; }
    case GgufType::kBool: {
      SPECULA_TRY(auto x, read_pod<uint8_t>("bool"));
      if (x > 1) return corrupt("metadata '{}' has bool value {}", key, x);
      v.data = x != 0;
      break;
    }
    case GgufType::kString: { SPECULA_TRY(auto s, read_string("string value")); v.data = std::move(s); break; }
    case GgufType::kArray: return read_array(depth, key);
    default: return corrupt("metadata '{}' has unknown value type {}", key, type_id);
  }
  return v;
}

Status GgufParser::read_header(uint64_t& n_tensors, uint64_t& n_kv) {
  SPECULA_TRY(const uint32_t magic, read_pod<uint32_t>("magic"));
  if (magic != kGgufMagic) return corrupt("not a GGUF file (bad magic 0x{:08x})", magic);
  SPECULA_TRY(const uint32_t version, read_pod<uint32_t>("version"));
  if (version == 1) return Error(ErrorCode::kUnsupported, out_.path_ + ": GGUF v1 is not supported (v2 and v3 are)");
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0) return Error(ErrorCode::kUnsupported, out_.path_ + ": big-endian GGUF is not supported");
    return corrupt("unsupported GGUF version {}", version);
  }
  out_.version_ = version;
  SPECULA_TRY(n_tensors, read_pod<uint64_t>("tensor count"));
  SPECULA_TRY(n_kv, read_pod<uint64_t>("metadata count"));
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8+4+4+8.
  if (n_kv > remaining() / 13) return corrupt("metadata count {} is larger than the file can hold", n_kv);
  if (n_tensors > remaining() / 24) return corrupt("tensor count {} is larger than the file can hold", n_tensors);
  return ok_status();
}

Status GgufParser::read_metadata(uint64_t n_kv) {
  out_.metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    SPECULA_TRY(std::string key, read_string("metadata key"));
    const std::string shown = printable(key);  // keys are file bytes: keep messages on one line
    SPECULA_TRY(const uint32_t type_id, read_pod<uint32_t>("metadata value type"));
    if (!gguf_type_known(type_id)) return corrupt("metadata '{}' has unknown value type {}", shown, type_id);
    SPECULA_TRY(GgufValue value, read_value(type_id, 0, shown));
    if (out_.metadata_index_.count(key) != 0) return corrupt("duplicate metadata key '{}'", shown);
    out_.metadata_index_.emplace(key, out_.metadata_.size());
    out_.metadata_.emplace_back(std::move(key), std::move(value));
  }
  if (const GgufValue* a = out_.find("general.alignment")) {
    const auto al = a->as_uint();
    if (a->type != GgufType::kUint32 || !al || *al == 0 || (*al & (*al - 1)) != 0 || *al > 65536) {
      return corrupt("general.alignment must be a u32 power of two, got {}", a->to_display());
    }
    out_.alignment_ = *al;
  }
  return ok_status();
}

Status GgufParser::validate_tensor(GgufTensorInfo& info, uint32_t type_id) {
  const std::string name = printable(info.name);
  const auto traits = ggml_type_traits(type_id);
  if (!traits) return corrupt("tensor '{}' has unknown type id {}", name, type_id);
  info.type = traits->type;
  // Bound the product of the dimensions with zeros counted as 1, so that later products (rows(),
  // strides) cannot overflow whatever the other dimensions are.
  uint64_t n = 1;
  uint64_t bound = 1;
  for (const int64_t d : info.dims) {
    if (d < 0) return corrupt("tensor '{}' has negative dimension {}", name, d);
    const uint64_t ud = d == 0 ? 1 : static_cast<uint64_t>(d);
    if (bound > kMaxElements / ud) return corrupt("tensor '{}' dimensions {} overflow", name, info.shape_string());
    bound *= ud;
    n *= static_cast<uint64_t>(d);
  }
  const uint64_t row = info.dims.empty() ? 1 : static_cast<uint64_t>(info.dims[0]);
  if (row % traits->block_size != 0) {
    return corrupt("tensor '{}' of type {} has row length {} that is not a multiple of its block size {}", name,
                   traits->name, row, traits->block_size);
  }
  info.n_elements = n;
  info.n_bytes = n / traits->block_size * traits->block_bytes;
  if (info.offset % out_.alignment_ != 0) {
    return corrupt("tensor '{}' offset {} is not a multiple of the alignment {}", name, info.offset, out_.alignment_);
  }
  return ok_status();
}

Status GgufParser::read_tensor_infos(uint64_t n_tensors) {
  out_.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo info;
    SPECULA_TRY(info.name, read_string("tensor name"));
    SPECULA_TRY(const uint32_t n_dims, read_pod<uint32_t>("tensor rank"));
    if (n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
      return corrupt("tensor '{}' has {} dimensions (max {})", printable(info.name), n_dims, kGgufMaxDims);
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      SPECULA_TRY(const int64_t dim, read_pod<int64_t>("tensor dimension"));
      info.dims.push_back(dim);
    }
    SPECULA_TRY(const uint32_t type_id, read_pod<uint32_t>("tensor type"));
    SPECULA_TRY(info.offset, read_pod<uint64_t>("tensor offset"));
    SPECULA_RETURN_IF_ERROR(validate_tensor(info, type_id));
    if (out_.tensor_index_.count(info.name) != 0) return corrupt("duplicate tensor name '{}'", printable(info.name));
    out_.tensor_index_.emplace(info.name, out_.tensors_.size());
    out_.tensors_.push_back(std::move(info));
  }
  return ok_status();
}

Status GgufParser::finish_layout() {
  const uint64_t al = out_.alignment_;
  uint64_t data = (pos_ + al - 1) / al * al;
  if (out_.tensors_.empty()) data = std::min<uint64_t>(data, bytes_.size());  // vocab-only files may end early
  if (data > bytes_.size()) return corrupt("data section starts at {} past the end of the file", data);
  out_.data_offset_ = data;
  const uint64_t data_size = bytes_.size() - data;
  for (const auto& t : out_.tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      return Error(ErrorCode::kCorruptData,
                   fmt::format("{}: tensor '{}' ({} bytes at data offset {}) extends past the end of the file "
                               "({} data bytes): the file is truncated or corrupt",
                               out_.path_, printable(t.name), t.n_bytes, t.offset, data_size));
    }
  }
  return ok_status();
}

Status GgufParser::run() {
  uint64_t n_tensors = 0;
  uint64_t n_kv = 0;
  SPECULA_RETURN_IF_ERROR(read_header(n_tensors, n_kv));
  SPECULA_RETURN_IF_ERROR(read_metadata(n_kv));
  SPECULA_RETURN_IF_ERROR(read_tensor_infos(n_tensors));
  return finish_layout();
}

int64_t GgufTensorInfo::rows() const {
  int64_t r = 1;
  for (size_t i = 1; i < dims.size(); ++i) r *= dims[i];
  return r;
}

std::string GgufTensorInfo::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  SPECULA_TRY(MappedFile mapped, MappedFile::open(path));
  GgufFile file;
  file.file_ = std::move(mapped);
  file.bytes_ = file.file_->bytes();
  file.path_ = path;
  GgufParser parser(file.bytes_, file);
  SPECULA_RETURN_IF_ERROR(parser.run());
  return file;
}

Result<GgufFile> GgufFile::parse(std::span<const uint8_t> bytes, std::string display_name) {
  GgufFile file;
  file.bytes_ = bytes;
  file.path_ = std::move(display_name);
  GgufParser parser(file.bytes_, file);
  SPECULA_RETURN_IF_ERROR(parser.run());
  return file;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {
Error missing(const std::string& path, std::string_view key) {
  return Error(ErrorCode::kNotFound, fmt::format("{}: metadata key '{}' is missing", path, key));
}
Error wrong_type(const std::string& path, std::string_view key, const GgufValue& v, const char* want) {
  return Error(ErrorCode::kCorruptData,
               fmt::format("{}: metadata key '{}' should be {}, but is {} {}", path, key, want, gguf_type_name(v.type),
                           v.to_display(4)));
}
}  // namespace

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(path_, key);
  if (const auto* s = v->as_string()) return *s;
  return wrong_type(path_, key, *v, "a string");
}

Result<uint64_t> GgufFile::get_uint(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(path_, key);
  if (auto u = v->as_uint()) return *u;
  return wrong_type(path_, key, *v, "a non-negative integer");
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(path_, key);
  if (auto i = v->as_int()) return *i;
  return wrong_type(path_, key, *v, "an integer");
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(path_, key);
  if (auto d = v->as_double()) return *d;
  return wrong_type(path_, key, *v, "a number");
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(path_, key);
  if (auto b = v->as_bool()) return *b;
  return wrong_type(path_, key, *v, "a bool");
}

Result<const GgufArray*> GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(path_, key);
  if (const auto* a = v->as_array()) return a;
  return wrong_type(path_, key, *v, "an array");
}

std::string GgufFile::architecture() const {
  const GgufValue* v = find("general.architecture");
  const std::string* s = v ? v->as_string() : nullptr;
  return s ? *s : std::string();
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::tensor_data(const GgufTensorInfo& info) const {
  return bytes_.subspan(static_cast<size_t>(data_offset_ + info.offset), static_cast<size_t>(info.n_bytes));
}

}  // namespace specula::format
