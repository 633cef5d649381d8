#include "format/gguf_value.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace specula::format {

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "u8";
    case GgufType::kInt8: return "i8";
    case GgufType::kUint16: return "u16";
    case GgufType::kInt16: return "i16";
    case GgufType::kUint32: return "u32";
    case GgufType::kInt32: return "i32";
    case GgufType::kFloat32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "str";
    case GgufType::kArray: return "arr";
    case GgufType::kUint64: return "u64";
    case GgufType::kInt64: return "i64";
    case GgufType::kFloat64: return "f64";
  }
  return "?";
}

bool gguf_type_known(uint32_t type_id) { return type_id <= static_cast<uint32_t>(GgufType::kFloat64); }

std::string printable(std::string_view s, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    // Cut at the limit, but not inside a UTF-8 sequence (at most 3 continuation bytes follow a lead).
    if (out.size() >= max_chars && ((c & 0xc0) != 0x80 || out.size() >= max_chars + 3)) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c != 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

GgufValue GgufValue::array(GgufType element_type, std::vector<GgufValue> items) {
  return {GgufType::kArray, GgufArray{element_type, std::move(items)}};
}

bool GgufValue::is_integer() const {
  return std::holds_alternative<uint64_t>(data) || std::holds_alternative<int64_t>(data);
}

bool GgufValue::is_number() const { return is_integer() || std::holds_alternative<double>(data); }

std::optional<int64_t> GgufValue::as_int() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&data)) return *i;
  return std::nullopt;
}

std::optional<uint64_t> GgufValue::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&data)) return *u;
  if (const auto* i = std::get_if<int64_t>(&data)) {
    if (*i < 0) return std::nullopt;
    return static_cast<uint64_t>(*i);
  }
  return std::nullopt;
}

std::optional<double> GgufValue::as_double() const {
  if (const auto* d = std::get_if<double>(&data)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&data)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&data)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> GgufValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&data)) return *b;
  return std::nullopt;
}

const std::string* GgufValue::as_string() const { return std::get_if<std::string>(&data); }

const GgufArray* GgufValue::as_array() const { return std::get_if<GgufArray>(&data); }

std::string GgufValue::to_display(size_t max_items) const {
  if (const auto* u = std::get_if<uint64_t>(&data)) return fmt::format("{}", *u);
  if (const auto* i = std::get_if<int64_t>(&data)) return fmt::format("{}", *i);
  if (const auto* d = std::get_if<double>(&data)) return fmt::format("{}", *d);
  if (const auto* b = std::get_if<bool>(&data)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&data)) return fmt::format("\"{}\"", printable(*s, 77));
  const auto& arr = std::get<GgufArray>(data);
  std::string out = fmt::format("[{} x {}: ", arr.items.size(), gguf_type_name(arr.element_type));
  for (size_t i = 0; i < arr.items.size() && i < max_items; ++i) {
    if (i != 0) out += ", ";
    out += arr.items[i].to_display(max_items);
  }
  if (arr.items.size() > max_items) out += ", ...";
  return out + "]";
}

}  // namespace specula::format
