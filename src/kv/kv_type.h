// KV cache element types (-ctk / -ctv): names, parsing, and the exact storage size of one head vector.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.h"

namespace specula::kv {

// f32/f16/bf16: plain floats. q8_0/q4_0: ggml's 32-value blocks (34 / 18 bytes). turbo2/3/4: TurboQuant
// (norm + random-sign Walsh-Hadamard rotation + Lloyd-Max scalar codebook) in groups of G = min(head_dim, 128)
// values, turboquant.md §6.1.
enum class KvType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kTurbo2, kTurbo3, kTurbo4 };

inline constexpr int kNumKvTypes = 8;

const char* kv_type_name(KvType type);
// Case-insensitive; also accepts "fp16"/"fp32"/"turbo4_0"-style aliases. Errors list the valid names.
Result<KvType> parse_kv_type(std::string_view name);
std::string kv_type_list();  // "f32, f16, bf16, q8_0, q4_0, turbo2, turbo3, turbo4"

bool is_turbo(KvType type);
int turbo_bits(KvType type);  // 2, 3, 4 for turbo types, 0 otherwise

// Turbo group size for a head dimension: min(head_dim, 128).
int turbo_group(int head_dim);

// Whether `type` can store head vectors of `head_dim` floats; the reason when it cannot.
Status check_head_dim(KvType type, int head_dim);

// Bytes of one head vector of head_dim values (head_dim must pass check_head_dim).
size_t head_bytes(KvType type, int head_dim);

}  // namespace specula::kv
