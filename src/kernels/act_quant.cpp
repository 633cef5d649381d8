#include "kernels/act_quant.h"

#include <cmath>

#include "base/check.h"

namespace specula::kernels {
namespace {

// One block of `size` values; returns the scale and writes q (and the q sum through *sum if given).
float quantize_block(const float* x, int size, int8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < size; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < size; ++i) q[i] = static_cast<int8_t>(std::nearbyint(x[i] * id));
  return d;
}

}  // namespace

void quantize_act32(const float* x, int64_t n, ActBlock32* out) {
  SPECULA_CHECK(n % 32 == 0, "activation width {} is not a multiple of 32", n);
  for (int64_t b = 0; b < n / 32; ++b) {
    ActBlock32& blk = out[b];
    blk.d = quantize_block(x + b * 32, 32, blk.qs);
    int32_t s = 0;
    for (int i = 0; i < 32; ++i) s += blk.qs[i];
    blk.sum = s;
  }
}

void quantize_act256(const float* x, int64_t n, ActBlock256* out) {
  SPECULA_CHECK(n % 256 == 0, "activation width {} is not a multiple of 256", n);
  for (int64_t b = 0; b < n / 256; ++b) {
    ActBlock256& blk = out[b];
    blk.d = quantize_block(x + b * 256, 256, blk.qs);
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += blk.qs[16 * j + i];
      blk.bsums[j] = static_cast<int16_t>(s);
    }
  }
}

void dequantize_act32(const ActBlock32* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = in[i / 32].d * static_cast<float>(in[i / 32].qs[i % 32]);
}

void dequantize_act256(const ActBlock256* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = in[i / 256].d * static_cast<float>(in[i / 256].qs[i % 256]);
}

size_t act_row_bytes(ActKind kind, int64_t n) {
  switch (kind) {
    case ActKind::kF32: return static_cast<size_t>(n) * sizeof(float);
    case ActKind::kQ8x32: return static_cast<size_t>(n / 32) * sizeof(ActBlock32);
    case ActKind::kQ8x256: return static_cast<size_t>(n / 256) * sizeof(ActBlock256);
  }
  return 0;
}

}  // namespace specula::kernels
