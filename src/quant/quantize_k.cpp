// Reference quantizers for the K-quant super-block types, following llama.cpp's non-imatrix reference
// algorithms step for step (the same search grids, weights, accumulation order and rounding), so that the
// bytes equal what llama.cpp's quantizer writes when compiled without floating-point contraction:
//   Q4_K / Q5_K: per 32-value sub-block an affine fit (scale, min) chosen by a weighted least-squares
//     search over candidate inverse scales (make_qkx2), weights av_x + |x|; scales and mins are then
//     quantized to 6 bits against the block maxima and the values re-quantized with the stored scales.
//   Q6_K: per 16-value sub-block a symmetric fit (make_qx, weights x^2, 19 candidate scales); int8
//     sub-block scales relative to the largest one.
//   Q8_K: symmetric, d = max / -127 with round half to even; bsums per 16 values.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/half.h"
#include "quant/quant.h"
#include "quant/rounding.h"

namespace specula::quant {

using detail::block_count;
using detail::nearest_int;

namespace {

constexpr float kGroupMaxEps = 1e-15f;

struct AffineFit {
  float scale;
  float min;  // the offset to subtract: value ~= scale * q - min
};

// Weighted error of value ~= scale * q + offset over one sub-block.
float fit_error(int n, const float* x, const float* w, const uint8_t* q, float scale, float offset) {
  float err = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float diff = scale * static_cast<float>(q[i]) + offset - x[i];
    err += w[i] * (diff * diff);
  }
  return err;
}

// make_qkx2: affine quantization of n values to [0, nmax], writing the levels to L. Tries nstep + 1
// inverse scales (rmin + rdelta * is + nmax) / (max - min) and keeps the least-squares refit with the
// smallest weighted squared error.
AffineFit fit_affine(int n, int nmax, const float* x, const float* w, uint8_t* L, float rmin, float rdelta,
                     int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::memset(L, 0, static_cast<size_t>(n));
    return {0.0f, -min};
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
  float best_error = fit_error(n, x, w, L, scale, min);
  uint8_t aux[32];
  SPECULA_CHECK(n <= 32);
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      aux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      const float err = fit_error(n, x, w, aux, this_scale, this_min);
      if (err < best_error) {
        std::memcpy(L, aux, static_cast<size_t>(n));
        best_error = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  return {scale, -min};
}

// make_qx with rmse_type 1 (weights x^2): symmetric quantization of n values to [-nmax, nmax - 1],
// levels stored in L as l + nmax. Returns the scale (0 for an all-zero group).
float fit_symmetric(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  auto level = [&](float iscale, int i) { return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1); };
  auto sums = [&](float iscale, float* sumlx, float* suml2) {
    *sumlx = 0;
    *suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const float fl = static_cast<float>(level(iscale, i));
      const float w = x[i] * x[i];
      *sumlx += w * x[i] * fl;
      *suml2 += w * fl * fl;
    }
  };
  float iscale = -fnmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale, i));
  float sumlx, suml2;
  sums(iscale, &sumlx, &suml2);
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fnmax + 0.1f * static_cast<float>(is)) / max;
    sums(iscale, &sumlx, &suml2);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale, i));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Packs 6-bit scale/min pairs of 8 sub-blocks into the 12-byte Q4_K/Q5_K layout (the inverse of
// unpack_scale_min_k4).
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = ls[j];
    scales[j + 4] = lm[j];
  }
  for (int j = 4; j < 8; ++j) {
    scales[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | ((lm[j] & 0x0f) << 4));
    scales[j - 4] = static_cast<uint8_t>(scales[j - 4] | ((ls[j] >> 4) << 6));
    scales[j] = static_cast<uint8_t>(scales[j] | ((lm[j] >> 4) << 6));
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): fits the 8 sub-blocks of one super-block, stores
// d, dmin and the packed scales, and writes the final levels (0..nmax) of the 256 values to L.
void quantize_superblock_affine(const float* x, int nmax, float rmin, int nstep, uint16_t* d_out,
                                uint16_t* dmin_out, uint8_t* scales_out, uint8_t* L) {
  float scales[kQK_K / 32], mins[kQK_K / 32], weights[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQK_K / 32; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    const AffineFit fit = fit_affine(32, nmax, xs, weights, L + 32 * j, rmin, 0.1f, nstep);
    scales[j] = fit.scale;
    mins[j] = fit.min;
    if (fit.scale > max_scale) max_scale = fit.scale;
    if (fit.min > max_min) max_min = fit.min;
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < kQK_K / 32; ++j) {
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_scale_min_k4(ls, lm, scales_out);
  *d_out = fp32_to_fp16(max_scale / 63.f);
  *dmin_out = fp32_to_fp16(max_min / 63.f);
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, scales_out, &sc, &m);
    const float d = fp16_to_fp32(*d_out) * static_cast<float>(sc);
    if (d == 0.0f) continue;  // keeps the levels of the fit, as the reference does
    const float dm = fp16_to_fp32(*dmin_out) * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    quantize_superblock_affine(x, 15, -1.0f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
    for (int c = 0; c < kQK_K / 64; ++c) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
      }
    }
  }
}

void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    quantize_superblock_affine(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
    std::memset(y[i].qh, 0, sizeof y[i].qh);
    for (int c = 0; c < kQK_K / 64; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        y[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
        y[i].qh[l] = static_cast<uint8_t>(y[i].qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      scales[ib] = fit_symmetric(16, 32, x + 16 * ib, L + 16 * ib);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    std::memset(&y[i], 0, sizeof y[i]);
    if (max_abs_scale < kGroupMaxEps) continue;  // all-zero block: d = 0, every byte 0
    const float iscale = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = fp16_to_fp32(y[i].d) * static_cast<float>(y[i].scales[j]);
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
      }
    }
    for (int h = 0; h < kQK_K / 128; ++h) {
      const int8_t* Lh = L + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int q[4] = {Lh[l], Lh[l + 32], Lh[l + 64], Lh[l + 96]};
        y[i].ql[64 * h + l] = static_cast<uint8_t>((q[0] & 0x0f) | ((q[2] & 0x0f) << 4));
        y[i].ql[64 * h + 32 + l] = static_cast<uint8_t>((q[1] & 0x0f) | ((q[3] & 0x0f) << 4));
        y[i].qh[32 * h + l] =
            static_cast<uint8_t>((q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6));
      }
    }
  }
}

void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * g + l];
      y[i].bsums[g] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace specula::quant
