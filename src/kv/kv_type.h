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
// q8_0, q4_0 and the turbo types (not the float types).
bool is_block_quantized(KvType type);
// Whether the K side of this type stores keys relative to the sequence's first key (k - k_0). Scores shift by
// the same q·k_0 for every entry of a sequence, which softmax cancels exactly, so attention is unchanged in
// exact arithmetic; the quantizer then spends its bits on what distinguishes keys instead of the component
// all keys share (Gemma-family keys carry a large common part after k_norm; centering on k_0 lowers turbo4's
// KL on Gemma 3 270M by 1.6x, docs/kv-cache.md). The block-quantized types center; the float types do not.
bool centers_keys(KvType type);
int turbo_bits(KvType type);  // 2, 3, 4 for turbo types, 0 otherwise

// Turbo group size for a head dimension: min(head_dim, 128).
int turbo_group(int head_dim);

// Whether `type` can store head vectors of `head_dim` floats; the reason when it cannot.
Status check_head_dim(KvType type, int head_dim);

// Bytes of one head vector of head_dim values (head_dim must pass check_head_dim).
size_t head_bytes(KvType type, int head_dim);

}  // namespace specula::kv
