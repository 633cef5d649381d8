// Scalar dequantization of every supported ggml block type. The arithmetic order (scale products first,
// then one multiply and one subtract per value) is ggml's, so results are bit-identical to its
// reference dequantizers.
#include <cstring>

#include "base/half.h"
#include "quant/quant.h"
#include "quant/rounding.h"

namespace specula::quant {

using detail::block_count;

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK4_0);
  for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0f) - 8) * d;
      y[j + kQK4_0 / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK4_1);
  for (int64_t i = 0; i < nb; ++i, y += kQK4_1) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0x0f) * d + m;
      y[j + kQK4_1 / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

namespace {
uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;  // GGUF is little-endian and so are the hosts specula supports
}
}  // namespace

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK5_0);
  for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
    const float d = fp16_to_fp32(x[i].d);
    const uint32_t qh = load_u32(x[i].qh);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = static_cast<float>(((x[i].qs[j] & 0x0f) | h0) - 16) * d;
      y[j + kQK5_0 / 2] = static_cast<float>(((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK5_1);
  for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    const uint32_t qh = load_u32(x[i].qh);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int h1 = static_cast<int>((qh >> (j + 16)) & 1u) << 4;
      y[j] = static_cast<float>((x[i].qs[j] & 0x0f) | h0) * d + m;
      y[j + kQK5_1 / 2] = static_cast<float>((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK8_0);
  for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_row_q8_1(const BlockQ8_1* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK8_1);
  for (int64_t i = 0; i < nb; ++i, y += kQK8_1) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK8_1; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_row_q2_k(const BlockQ2_K* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    for (int p = 0; p < kQK_K; ++p) {
      const uint8_t sc = x[i].scales[p / 16];
      const float dl = d * static_cast<float>(sc & 0x0f);
      const float ml = dmin * static_cast<float>(sc >> 4);
      const int q = (x[i].qs[32 * (p / 128) + p % 32] >> (2 * ((p % 128) / 32))) & 3;
      y[p] = dl * static_cast<float>(q) - ml;
    }
  }
}

void dequantize_row_q3_k(const BlockQ3_K* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = fp16_to_fp32(x[i].d);
    float dl[16];
    for (int s = 0; s < 16; ++s) {
      const int low = s < 8 ? (x[i].scales[s] & 0x0f) : (x[i].scales[s - 8] >> 4);
      const int high = (x[i].scales[8 + s % 4] >> (2 * (s / 4))) & 3;
      dl[s] = d * static_cast<float>((low | (high << 4)) - 32);
    }
    for (int p = 0; p < kQK_K; ++p) {
      const int h = p / 128, g = (p % 128) / 32, l = p % 32;
      const int low = (x[i].qs[32 * h + l] >> (2 * g)) & 3;
      const bool high_set = (x[i].hmask[l] >> (g + 4 * h)) & 1;
      y[p] = dl[p / 16] * static_cast<float>(low - (high_set ? 0 : 4));
    }
  }
}

void dequantize_row_q4_k(const BlockQ4_K* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, x[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      const uint8_t* q = x[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) y[32 * j + l] = d1 * static_cast<float>((q[l] >> shift) & 0x0f) - m1;
    }
  }
}

void dequantize_row_q5_k(const BlockQ5_K* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = fp16_to_fp32(x[i].d);
    const float dmin = fp16_to_fp32(x[i].dmin);
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, x[i].scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      const uint8_t* q = x[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      for (int l = 0; l < 32; ++l) {
        const int v = ((q[l] >> shift) & 0x0f) | (((x[i].qh[l] >> j) & 1) << 4);
        y[32 * j + l] = d1 * static_cast<float>(v) - m1;
      }
    }
  }
}

void dequantize_row_q6_k(const BlockQ6_K* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    const float d = fp16_to_fp32(x[i].d);
    for (int p = 0; p < kQK_K; ++p) {
      const int h = p / 128, g = (p % 128) / 32, l = p % 32;
      const int low = (x[i].ql[64 * h + 32 * (g % 2) + l] >> (4 * (g / 2))) & 0x0f;
      const int high = (x[i].qh[32 * h + l] >> (2 * g)) & 3;
      const float dl = d * static_cast<float>(x[i].scales[p / 16]);
      y[p] = dl * static_cast<float>((low | (high << 4)) - 32);
    }
  }
}

void dequantize_row_q8_k(const BlockQ8_K* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK_K);
  for (int64_t i = 0; i < nb; ++i, y += kQK_K) {
    for (int j = 0; j < kQK_K; ++j) y[j] = x[i].d * static_cast<float>(x[i].qs[j]);
  }
}

void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n) {
  const int64_t nb = block_count(n, kQK4_NL);
  for (int64_t i = 0; i < nb; ++i, y += kQK4_NL) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] & 0x0f]);
      y[j + kQK4_NL / 2] = d * static_cast<float>(kIq4nlValues[x[i].qs[j] >> 4]);
    }
  }
}

}  // namespace specula::quant
