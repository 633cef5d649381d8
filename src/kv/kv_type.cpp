#include "kv/kv_type.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "base/check.h"

namespace specula::kv {
namespace {

struct TypeName {
  KvType type;
  const char* name;
};

constexpr std::array<TypeName, kNumKvTypes> kNames = {{{KvType::kF32, "f32"},
                                                      {KvType::kF16, "f16"},
                                                      {KvType::kBF16, "bf16"},
                                                      {KvType::kQ8_0, "q8_0"},
                                                      {KvType::kQ4_0, "q4_0"},
                                                      {KvType::kTurbo2, "turbo2"},
                                                      {KvType::kTurbo3, "turbo3"},
                                                      {KvType::kTurbo4, "turbo4"}}};

bool is_power_of_two(int x) { return x > 0 && (x & (x - 1)) == 0; }

}  // namespace

const char* kv_type_name(KvType type) { return kNames[static_cast<size_t>(type)].name; }

std::string kv_type_list() {
  std::string s;
  for (const auto& n : kNames) {
    if (!s.empty()) s += ", ";
    s += n.name;
  }
  return s;
}

Result<KvType> parse_kv_type(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "fp32") lower = "f32";
  if (lower == "fp16") lower = "f16";
  if (lower.size() == 8 && lower.starts_with("turbo") && lower.ends_with("_0")) lower.resize(6);  // turbo4_0
  for (const auto& n : kNames) {
    if (lower == n.name) return n.type;
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown KV cache type '{}' (valid: {})", name, kv_type_list());
}

bool is_turbo(KvType type) { return turbo_bits(type) != 0; }

bool is_block_quantized(KvType type) { return type != KvType::kF32 && type != KvType::kF16 && type != KvType::kBF16; }

bool centers_keys(KvType type) { return is_block_quantized(type); }

int turbo_bits(KvType type) {
  switch (type) {
    case KvType::kTurbo2: return 2;
    case KvType::kTurbo3: return 3;
    case KvType::kTurbo4: return 4;
    default: return 0;
  }
}

int turbo_group(int head_dim) { return std::min(head_dim, 128); }

Status check_head_dim(KvType type, int head_dim) {
  if (head_dim < 1) return make_error(ErrorCode::kInvalidArgument, "head dimension {} is not positive", head_dim);
  switch (type) {
    case KvType::kF32:
    case KvType::kF16:
    case KvType::kBF16: return ok_status();
    case KvType::kQ8_0:
    case KvType::kQ4_0:
      if (head_dim % 32 != 0) {
        return make_error(ErrorCode::kUnsupported, "{} needs a head dimension that is a multiple of 32, got {}",
                          kv_type_name(type), head_dim);
      }
      return ok_status();
    default:
      if (!is_power_of_two(head_dim) || head_dim < 32) {
        return make_error(ErrorCode::kUnsupported, "{} needs a head dimension that is a power of two >= 32, got {}",
                          kv_type_name(type), head_dim);
      }
      return ok_status();
  }
}

size_t head_bytes(KvType type, int head_dim) {
  const size_t d = static_cast<size_t>(head_dim);
  switch (type) {
    case KvType::kF32: return 4 * d;
    case KvType::kF16:
    case KvType::kBF16: return 2 * d;
    case KvType::kQ8_0: return d / 32 * 34;
    case KvType::kQ4_0: return d / 32 * 18;
    default: {
      const size_t g = static_cast<size_t>(turbo_group(head_dim));
      const size_t bits = static_cast<size_t>(turbo_bits(type));
      return d / g * (2 + g * bits / 8);  // fp16 norm + index planes, per group
    }
  }
}

}  // namespace specula::kv
