// Activation blocks for the integer matmul paths: a float32 activation row quantized to int8 with one
// float scale per block of 32 (for the 32-wide weight types) or 256 values (for the K-quants), plus the
// block sums the weight formats with offsets need. Shared by kernels::cpu (SIMD quantizers must agree
// with the scalar ones here bit for bit) and by the tests (the oracle dequantizes these blocks).
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/ggml_type.h"

namespace specula::kernels {

// Q8_0-style block: x[i] ~= d * qs[i]; sum = sum(qs). The scale is float (not fp16 as in a Q8_0 file):
// this format never leaves memory, so it keeps the extra precision for free.
struct ActBlock32 {
  float d;
  int32_t sum;
  int8_t qs[32];
};
static_assert(sizeof(ActBlock32) == 40);

// Q8_K-style block: x[i] ~= d * qs[i]; bsums[j] = sum(qs[16j .. 16j+16)).
struct ActBlock256 {
  float d;
  int16_t bsums[16];
  int8_t qs[256];
};
static_assert(sizeof(ActBlock256) == 292);

// How a matmul consumes its activations for a given weight type.
enum class ActKind { kF32, kQ8x32, kQ8x256 };

// The quantization rule (both sizes): amax = max|x|, d = amax / 127, q = round_half_even(x * (127 / amax))
// in float32 arithmetic (q = 0 when amax == 0). n must be a multiple of the block size.
void quantize_act32(const float* x, int64_t n, ActBlock32* out);
void quantize_act256(const float* x, int64_t n, ActBlock256* out);
// Inverse: out[i] = d * q[i] (float32), n values.
void dequantize_act32(const ActBlock32* in, int64_t n, float* out);
void dequantize_act256(const ActBlock256* in, int64_t n, float* out);

// Bytes of one token's quantized activations of width n for the given kind (kF32: n floats).
size_t act_row_bytes(ActKind kind, int64_t n);

}  // namespace specula::kernels
