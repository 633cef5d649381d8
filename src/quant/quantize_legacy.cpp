// Reference quantizers for the 32-value block types and the 16-bit float formats, with llama.cpp's
// (quantize_row_*_ref) rounding: Q4_0/Q5_0 truncate x/d + 8.5 (16.5), Q4_1/Q5_1 truncate (x-min)/d + 0.5,
// Q8_0/Q8_1 round half away from zero. Scales are computed in fp32 and stored as fp16.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/half.h"
#include "quant/quant.h"
#include "quant/rounding.h"

namespace specula::quant {

using detail::block_count;
using detail::round_clamped;
using detail::trunc_clamped;

namespace {

// The value of largest magnitude (the first one on ties), sign kept.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void min_max(const float* x, int n, float* min, float* max) {
  *min = std::numeric_limits<float>::max();
  *max = -std::numeric_limits<float>::max();
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

}  // namespace

void quantize_row_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void quantize_row_bf16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  const int64_t nb = block_count(n, kQK4_0);
  for (int64_t i = 0; i < nb; ++i, x += kQK4_0) {
    const float d = signed_absmax(x, kQK4_0) / -8.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = trunc_clamped(x[j] * id + 8.5f, 0, 15);
      const int q1 = trunc_clamped(x[j + kQK4_0 / 2] * id + 8.5f, 0, 15);
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  const int64_t nb = block_count(n, kQK4_1);
  for (int64_t i = 0; i < nb; ++i, x += kQK4_1) {
    float min, max;
    min_max(x, kQK4_1, &min, &max);
    const float d = (max - min) / 15.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int q0 = trunc_clamped((x[j] - min) * id + 0.5f, 0, 15);
      const int q1 = trunc_clamped((x[j + kQK4_1 / 2] - min) * id + 0.5f, 0, 15);
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

namespace {
// Packs 32 five-bit values into the qs nibbles and the qh bit word shared by Q5_0 and Q5_1.
void pack_q5(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, sizeof qh);
}
}  // namespace

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  const int64_t nb = block_count(n, kQK5_0);
  for (int64_t i = 0; i < nb; ++i, x += kQK5_0) {
    const float d = signed_absmax(x, kQK5_0) / -16.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    int q[kQK5_0];
    for (int j = 0; j < kQK5_0; ++j) q[j] = trunc_clamped(x[j] * id + 16.5f, 0, 31);
    pack_q5(q, y[i].qs, y[i].qh);
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
  const int64_t nb = block_count(n, kQK5_1);
  for (int64_t i = 0; i < nb; ++i, x += kQK5_1) {
    float min, max;
    min_max(x, kQK5_1, &min, &max);
    const float d = (max - min) / 31.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    int q[kQK5_1];
    for (int j = 0; j < kQK5_1; ++j) q[j] = trunc_clamped((x[j] - min) * id + 0.5f, 0, 31);
    pack_q5(q, y[i].qs, y[i].qh);
  }
}

namespace {
float absmax(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}
}  // namespace

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  const int64_t nb = block_count(n, kQK8_0);
  for (int64_t i = 0; i < nb; ++i, x += kQK8_0) {
    const float d = absmax(x, kQK8_0) / 127.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(round_clamped(x[j] * id, -127, 127));
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  const int64_t nb = block_count(n, kQK8_1);
  for (int64_t i = 0; i < nb; ++i, x += kQK8_1) {
    const float d = absmax(x, kQK8_1) / 127.0f;
    const float id = inverse_or_zero(d);
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kQK8_1; ++j) {
      y[i].qs[j] = static_cast<int8_t>(round_clamped(x[j] * id, -127, 127));
      sum += y[i].qs[j];
    }
    y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

}  // namespace specula::quant
