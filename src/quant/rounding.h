// Float -> integer conversions used by the quantizers, with ggml's exact rounding semantics and no
// undefined behaviour for out-of-range or NaN inputs (which only arise from non-finite weights).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#include "base/check.h"

namespace specula::quant::detail {

// Round half to even for |v| <= 2^22 (ggml's nearest_int: adding 1.5 * 2^23 leaves the rounded integer
// in the low mantissa bits). Larger magnitudes give a wrapped value, never UB.
inline int nearest_int(float v) {
  const float biased = v + 12582912.0f;
  const int32_t bits = std::bit_cast<int32_t>(biased);
  return (bits & 0x007fffff) - 0x00400000;
}

// C's (int)v (truncation toward zero), saturated to [lo, hi]; NaN -> lo.
inline int trunc_clamped(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;
  if (!(v < static_cast<float>(hi))) return hi;
  return static_cast<int>(v);
}

// roundf (half away from zero), saturated to [lo, hi]; NaN -> 0.
inline int round_clamped(float v, int lo, int hi) {
  if (std::isnan(v)) return 0;
  const float r = std::round(v);
  if (r < static_cast<float>(lo)) return lo;
  if (r > static_cast<float>(hi)) return hi;
  return static_cast<int>(r);
}

// Number of blocks in a row of n values; n must be a multiple of block (a programming error otherwise).
inline int64_t block_count(int64_t n, int block) {
  SPECULA_CHECK(n >= 0 && n % block == 0, "row length {} is not a multiple of the block size {}", n, block);
  return n / block;
}

}  // namespace specula::quant::detail
