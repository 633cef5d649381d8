// A GGUF metadata value: one of the 13 GGUF value types, arrays possibly nested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
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

struct GgufValue;

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
};

}  // namespace specula::format
