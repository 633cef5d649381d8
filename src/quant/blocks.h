// Quantized block layouts, byte-for-byte the ones ggml writes into GGUF files (the file format is the spec).
// Kernels include this header to read weights in place and to produce the Q8_0 / Q8_K activation blocks
// used for integer dot products. fp16 fields are raw IEEE binary16 bits (convert with base/half.h).
//
// Layouts are natural (no packing pragmas): every struct's size equals ggml's and its alignment is that
// of its widest field (2 bytes with fp16 scales, 4 for Q8_K), so a row of blocks at any 4-byte aligned
// address is correctly aligned. Sizes, offsets and triviality are checked below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace specula::quant {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK4_NL = 32;
inline constexpr int kQK_K = 256;       // values per K-quant super-block
inline constexpr int kKScaleSize = 12;  // bytes of packed 6-bit scales/mins in Q4_K and Q5_K

// Q4_0: value = d * (q - 8), q in [0, 15]. qs[j] holds value j (low nibble) and j + 16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};

// Q4_1: value = d * q + m, q in [0, 15]; nibble order as Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK4_1 / 2];
};

// Q5_0: value = d * (q - 16), q in [0, 31]. Low 4 bits as Q4_0; bit 4 of value j is bit j of qh
// (little-endian 32-bit word).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};

// Q5_1: value = d * q + m, q in [0, 31]; bit layout as Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};

// Q8_0: value = d * qs[j].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};

// Q8_1: value = d * qs[j]; s = d * sum(qs) (fp16), used by dot products against Q4_1/Q5_1.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK8_1];
};

// Q2_K: 16 sub-blocks of 16. scales[i] = scale (low nibble) | min (high nibble) of sub-block i.
// value p = d * sc * q - dmin * m, q = (qs[32 * (p / 128) + p % 32] >> (2 * ((p % 128) / 32))) & 3.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (stored + 32) packed in 12 bytes: low 4 bits of
// scale i in scales[i % 8] (nibble i / 8), high 2 bits in scales[8 + i % 4] bits 2 * (i / 4).
// q = low 2 bits as Q2_K, minus 4 where bit (p % 128) / 32 + 4 * (p / 128) of hmask[p % 32] is clear.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// Q4_K: 8 sub-blocks of 32 with 6-bit scale and min each, packed in scales[12] (see
// unpack_scale_min_k4). value p = d * sc[p / 32] * q - dmin * m[p / 32]; q is the low nibble of
// qs[32 * (p / 64) + p % 32] for even sub-blocks and the high nibble for odd ones.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};

// Q5_K: Q4_K plus a fifth bit: bit (p / 32) of qh[p % 32].
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// Q6_K: 16 sub-blocks of 16 with int8 scales. value p = d * scales[p / 16] * (q - 32), q 6 bits:
// with h = p / 128, g = (p % 128) / 32, l = p % 32, the low 4 bits are nibble g / 2 of
// ql[64 * h + 32 * (g % 2) + l] and the high 2 bits are bits 2g..2g+1 of qh[32 * h + l].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Q8_K: value = d * qs[j] (d is fp32); bsums[i] = sum of qs[16 i .. 16 i + 15]. Activation format for
// dot products against the K-quants.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

// IQ4_NL: value = d * kIq4nlValues[q], q 4 bits in the Q4_0 nibble order.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK4_NL / 2];
};

// The non-linear 4-bit code book of IQ4_NL (and IQ4_XS).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// Unpacks the 6-bit scale and min of sub-block j (0..7) from the 12-byte Q4_K/Q5_K scales array:
// j < 4: scale = bits 0..5 of byte j, min = bits 0..5 of byte j + 4;
// j >= 4: scale = low nibble of byte j + 4 | (bits 6..7 of byte j - 4) << 4,
//         min = high nibble of byte j + 4 | (bits 6..7 of byte j) << 4.
inline void unpack_scale_min_k4(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

#define SPECULA_CHECK_BLOCK(T, bytes)                                     \
  static_assert(sizeof(T) == (bytes), #T " must match ggml's block size"); \
  static_assert(std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T>, #T " must be POD")

SPECULA_CHECK_BLOCK(BlockQ4_0, 18);
SPECULA_CHECK_BLOCK(BlockQ4_1, 20);
SPECULA_CHECK_BLOCK(BlockQ5_0, 22);
SPECULA_CHECK_BLOCK(BlockQ5_1, 24);
SPECULA_CHECK_BLOCK(BlockQ8_0, 34);
SPECULA_CHECK_BLOCK(BlockQ8_1, 36);
SPECULA_CHECK_BLOCK(BlockQ2_K, 84);
SPECULA_CHECK_BLOCK(BlockQ3_K, 110);
SPECULA_CHECK_BLOCK(BlockQ4_K, 144);
SPECULA_CHECK_BLOCK(BlockQ5_K, 176);
SPECULA_CHECK_BLOCK(BlockQ6_K, 210);
SPECULA_CHECK_BLOCK(BlockQ8_K, 292);
SPECULA_CHECK_BLOCK(BlockIQ4_NL, 18);
#undef SPECULA_CHECK_BLOCK

static_assert(offsetof(BlockQ5_0, qs) == 6 && offsetof(BlockQ5_1, qs) == 8);
static_assert(offsetof(BlockQ2_K, d) == 80 && offsetof(BlockQ3_K, scales) == 96 && offsetof(BlockQ3_K, d) == 108);
static_assert(offsetof(BlockQ4_K, qs) == 16 && offsetof(BlockQ5_K, qh) == 16 && offsetof(BlockQ5_K, qs) == 48);
static_assert(offsetof(BlockQ6_K, qh) == 128 && offsetof(BlockQ6_K, scales) == 192 && offsetof(BlockQ6_K, d) == 208);
static_assert(offsetof(BlockQ8_K, qs) == 4 && offsetof(BlockQ8_K, bsums) == 260);

}  // namespace specula::quant
