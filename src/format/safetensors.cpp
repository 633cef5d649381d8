#include "format/safetensors.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "base/half.h"
#include "format/gguf_value.h"

namespace specula::format {
namespace {

using nlohmann::json;

inline constexpr uint64_t kMaxElements = uint64_t{1} << 50;
inline constexpr size_t kMaxRank = 16;

std::optional<SafetensorsDtype> parse_dtype(std::string_view s) {
  if (s == "F32") return SafetensorsDtype::kF32;
  if (s == "F16") return SafetensorsDtype::kF16;
  if (s == "BF16") return SafetensorsDtype::kBF16;
  if (s == "I32") return SafetensorsDtype::kI32;
  if (s == "I64") return SafetensorsDtype::kI64;
  return std::nullopt;
}

// The JSON adapter: the only place where nlohmann exceptions can occur; they become kCorruptData.
Result<json> parse_json(std::string_view text, const std::string& what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorruptData, "{}: invalid JSON: {}", what, printable(e.what(), 200));
  }
}

// A non-negative JSON integer, or nullopt.
std::optional<uint64_t> json_uint(const json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return static_cast<uint64_t>(j.get<int64_t>());
  return std::nullopt;
}

}  // namespace

const char* safetensors_dtype_name(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF32: return "F32";
    case SafetensorsDtype::kF16: return "F16";
    case SafetensorsDtype::kBF16: return "BF16";
    case SafetensorsDtype::kI32: return "I32";
    case SafetensorsDtype::kI64: return "I64";
  }
  return "?";
}

size_t safetensors_dtype_size(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::kF32: return 4;
    case SafetensorsDtype::kF16: return 2;
    case SafetensorsDtype::kBF16: return 2;
    case SafetensorsDtype::kI32: return 4;
    case SafetensorsDtype::kI64: return 8;
  }
  return 0;
}

std::string SafetensorsTensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

class SafetensorsParser {
 public:
  explicit SafetensorsParser(SafetensorsFile& out) : out_(out) {}
  Status run();

 private:
  template <typename... Args>
  Error corrupt(fmt::format_string<Args...> f, Args&&... args) const {
    return Error(ErrorCode::kCorruptData, out_.path_ + ": " + fmt::format(f, std::forward<Args>(args)...));
  }
  Status read_metadata(const json& j);
  Status read_tensor(const std::string& name, const json& j, uint64_t data_size);
  Status check_overlaps();

  SafetensorsFile& out_;
  const uint8_t* data_ = nullptr;  // start of the data section
};

Status SafetensorsParser::read_metadata(const json& j) {
  if (!j.is_object()) return corrupt("__metadata__ is not an object");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return corrupt("__metadata__ value of '{}' is not a string", printable(k));
    out_.metadata_.emplace(k, v.get<std::string>());
  }
  return ok_status();
}

Status SafetensorsParser::read_tensor(const std::string& name, const json& j, uint64_t data_size) {
  const std::string shown = printable(name);
  if (!j.is_object()) return corrupt("tensor '{}': entry is not an object", shown);
  const auto dt = j.find("dtype");
  const auto sh = j.find("shape");
  const auto off = j.find("data_offsets");
  if (dt == j.end() || !dt->is_string()) return corrupt("tensor '{}': missing or non-string dtype", shown);
  if (sh == j.end() || !sh->is_array()) return corrupt("tensor '{}': missing or non-array shape", shown);
  if (off == j.end() || !off->is_array() || off->size() != 2) {
    return corrupt("tensor '{}': data_offsets must be an array of two integers", shown);
  }
  SafetensorsTensor t;
  t.name = name;
  const auto dtype = parse_dtype(dt->get_ref<const std::string&>());
  if (!dtype) {
    return make_error(ErrorCode::kUnsupported, "{}: tensor '{}' has dtype {}, which specula does not read "
                      "(F32, F16, BF16, I32 and I64 are supported)", out_.path_, shown,
                      printable(dt->get_ref<const std::string&>(), 16));
  }
  t.dtype = *dtype;
  if (sh->size() > kMaxRank) return corrupt("tensor '{}': {} dimensions (max {})", shown, sh->size(), kMaxRank);
  uint64_t n = 1;
  uint64_t bound = 1;  // zeros counted as 1, so that no product of dimensions can overflow later
  for (const auto& d : *sh) {
    const auto v = json_uint(d);
    if (!v) return corrupt("tensor '{}': shape entry {} is not a non-negative integer", shown, printable(d.dump(), 24));
    const uint64_t ud = std::max<uint64_t>(*v, 1);
    if (bound > kMaxElements / ud) return corrupt("tensor '{}': shape {} has too many elements", shown, sh->dump());
    bound *= ud;
    n *= *v;
    t.shape.push_back(static_cast<int64_t>(*v));
  }
  t.n_elements = n;
  const auto begin = json_uint((*off)[0]);
  const auto end = json_uint((*off)[1]);
  if (!begin || !end) return corrupt("tensor '{}': data_offsets must be non-negative integers", shown);
  if (*begin > *end || *end > data_size) {
    return corrupt("tensor '{}': data_offsets [{}, {}] do not lie inside the {} data bytes", shown, *begin, *end,
                   data_size);
  }
  const uint64_t want = n * safetensors_dtype_size(t.dtype);
  if (*end - *begin != want) {
    return corrupt("tensor '{}': {} x {} needs {} bytes, but data_offsets [{}, {}] hold {}", shown,
                   safetensors_dtype_name(t.dtype), t.shape_string(), want, *begin, *end, *end - *begin);
  }
  t.bytes = std::span<const uint8_t>(data_ + *begin, static_cast<size_t>(want));
  out_.tensors_.push_back(std::move(t));
  return ok_status();
}

Status SafetensorsParser::check_overlaps() {
  auto& ts = out_.tensors_;
  std::sort(ts.begin(), ts.end(), [](const auto& a, const auto& b) {
    return a.bytes.data() != b.bytes.data() ? a.bytes.data() < b.bytes.data() : a.bytes.size() < b.bytes.size();
  });
  for (size_t i = 1; i < ts.size(); ++i) {
    const auto& prev = ts[i - 1];
    if (ts[i].bytes.data() < prev.bytes.data() + prev.bytes.size()) {
      return corrupt("tensors '{}' and '{}' overlap", printable(prev.name), printable(ts[i].name));
    }
  }
  for (size_t i = 0; i < ts.size(); ++i) out_.index_.emplace(ts[i].name, i);
  return ok_status();
}

Status SafetensorsParser::run() {
  const auto bytes = out_.bytes_;
  if (bytes.size() < 8) return corrupt("file of {} bytes is too small for a safetensors header", bytes.size());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > bytes.size() - 8) return corrupt("header length {} runs past the end of the file ({} bytes)", n, bytes.size());
  if (n > kSafetensorsMaxHeaderBytes) return corrupt("header length {} exceeds the limit of {}", n, kSafetensorsMaxHeaderBytes);
  out_.header_bytes_ = n;
  data_ = bytes.data() + 8 + n;
  const uint64_t data_size = bytes.size() - 8 - n;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<size_t>(n));
  SPECULA_TRY(const json header, parse_json(text, out_.path_ + ": header"));
  if (!header.is_object()) return corrupt("header is not a JSON object");
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      SPECULA_RETURN_IF_ERROR(read_metadata(value));
    } else {
      SPECULA_RETURN_IF_ERROR(read_tensor(key, value, data_size));
    }
  }
  return check_overlaps();
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  SPECULA_TRY(MappedFile mapped, MappedFile::open(path));
  SafetensorsFile file;
  file.file_ = std::move(mapped);
  file.bytes_ = file.file_->bytes();
  file.path_ = path;
  SPECULA_RETURN_IF_ERROR(SafetensorsParser(file).run());
  return file;
}

Result<SafetensorsFile> SafetensorsFile::parse(std::span<const uint8_t> bytes, std::string display_name) {
  SafetensorsFile file;
  file.bytes_ = bytes;
  file.path_ = std::move(display_name);
  SPECULA_RETURN_IF_ERROR(SafetensorsParser(file).run());
  return file;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::vector<float>> safetensors_to_f32(const SafetensorsTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements));
  const uint8_t* p = t.bytes.data();
  switch (t.dtype) {
    case SafetensorsDtype::kF32:
      if (!out.empty()) std::memcpy(out.data(), p, out.size() * 4);
      return out;
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16:
      for (size_t i = 0; i < out.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = t.dtype == SafetensorsDtype::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
      }
      return out;
    case SafetensorsDtype::kI32:
    case SafetensorsDtype::kI64: break;
  }
  return make_error(ErrorCode::kUnsupported, "tensor '{}' has integer dtype {}; it cannot be read as float32",
                    printable(t.name), safetensors_dtype_name(t.dtype));
}

}  // namespace specula::format
