// A GGUF metadata value: one of the 13 GGUF value types, arrays possibly nested.
#pragma once

#include <cstdint>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace specula::format {

enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

const char* gguf_type_name(GgufType type);
bool gguf_type_known(uint32_t type_id);

// Renders bytes from a file (keys, names, strings) on one line: control bytes and backslashes are
// escaped as \xNN, other bytes (UTF-8 text) are kept; the result is cut to about max_chars.
std::string printable(std::string_view s, size_t max_chars = 80);

struct GgufValue;

// The GGUF type of a C++ scalar or string type (compile error for anything else).
template <typename T>
constexpr GgufType gguf_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>) return GgufType::kUint8;
  else if constexpr (std::is_same_v<T, int8_t>) return GgufType::kInt8;
  else if constexpr (std::is_same_v<T, uint16_t>) return GgufType::kUint16;
  else if constexpr (std::is_same_v<T, int16_t>) return GgufType::kInt16;
  else if constexpr (std::is_same_v<T, uint32_t>) return GgufType::kUint32;
  else if constexpr (std::is_same_v<T, int32_t>) return GgufType::kInt32;
  else if constexpr (std::is_same_v<T, uint64_t>) return GgufType::kUint64;
  else if constexpr (std::is_same_v<T, int64_t>) return GgufType::kInt64;
  else if constexpr (std::is_same_v<T, float>) return GgufType::kFloat32;
  else if constexpr (std::is_same_v<T, double>) return GgufType::kFloat64;
  else if constexpr (std::is_same_v<T, bool>) return GgufType::kBool;
  else {
    static_assert(std::is_same_v<T, std::string>, "no GGUF type for this C++ type");
    return GgufType::kString;
  }
}

struct GgufArray {
  GgufType element_type = GgufType::kUint8;
  std::vector<GgufValue> items;
};

// Integers are held widened (unsigned in uint64_t, signed in int64_t); `type` keeps the file's type.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> data;

  bool is_integer() const;
  bool is_number() const;  // integer or float
  bool is_string() const { return type == GgufType::kString; }
  bool is_array() const { return type == GgufType::kArray; }

  // Conversions that succeed only when the value is representable (no silent truncation).
  std::optional<int64_t> as_int() const;
  std::optional<uint64_t> as_uint() const;
  std::optional<double> as_double() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const GgufArray* as_array() const;

  // A short human-readable rendering (arrays abbreviated), for `specula info`.
  std::string to_display(size_t max_items = 8) const;

  // Typed constructors (used with GgufWriter). f32 keeps the float's exact value.
  static GgufValue u8(uint8_t v) { return {GgufType::kUint8, uint64_t{v}}; }
  static GgufValue i8(int8_t v) { return {GgufType::kInt8, int64_t{v}}; }
  static GgufValue u16(uint16_t v) { return {GgufType::kUint16, uint64_t{v}}; }
  static GgufValue i16(int16_t v) { return {GgufType::kInt16, int64_t{v}}; }
  static GgufValue u32(uint32_t v) { return {GgufType::kUint32, uint64_t{v}}; }
  static GgufValue i32(int32_t v) { return {GgufType::kInt32, int64_t{v}}; }
  static GgufValue u64(uint64_t v) { return {GgufType::kUint64, v}; }
  static GgufValue i64(int64_t v) { return {GgufType::kInt64, v}; }
  static GgufValue f32(float v) { return {GgufType::kFloat32, static_cast<double>(v)}; }
  static GgufValue f64(double v) { return {GgufType::kFloat64, v}; }
  static GgufValue boolean(bool v) { return {GgufType::kBool, v}; }
  static GgufValue str(std::string v) { return {GgufType::kString, std::move(v)}; }
  // An array whose items all have type element_type (checked by GgufWriter, not here).
  static GgufValue array(GgufType element_type, std::vector<GgufValue> items);
  // An array of scalars or strings from any sized range whose elements are one of uint8_t..int64_t,
  // float, double, bool, std::string.
  template <typename Range>
  static GgufValue array_of(const Range& values);
};

template <typename Range>
GgufValue GgufValue::array_of(const Range& values) {
  using T = std::ranges::range_value_t<Range>;
  std::vector<GgufValue> items;
  items.reserve(std::ranges::size(values));
  for (auto&& v : values) {
    if constexpr (std::is_same_v<T, bool>) items.push_back(boolean(v));
    else if constexpr (std::is_same_v<T, std::string>) items.push_back(str(v));
    else items.push_back(GgufValue{gguf_type_of<T>(), std::conditional_t<std::is_floating_point_v<T>, double,
                                                      std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v)});
  }
  return array(gguf_type_of<T>(), std::move(items));
}

}  // namespace specula::format
