// Scalar tier of the packed-cache attention loops, and the ISA dispatch.
#include <cmath>

#include "kernels/cpu/cpu_features.h"
#include "kv/kv_simd.h"

namespace specula::kv {
namespace {

void decode_scalar(const KvCodec& codec, const uint8_t* src, float* out) { codec.decode(src, out); }

float dot_scalar(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_scalar(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

float exp_sum_scalar(float* s, int n, float max) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += (s[i] = std::exp(s[i] - max));
  return sum;
}

}  // namespace

const KvSimd& kv_simd_scalar() {
  static const KvSimd table{KvIsa::kScalar, "scalar", &decode_scalar, &dot_scalar, &axpy_scalar, &exp_sum_scalar};
  return table;
}

bool kv_isa_supported(KvIsa isa) {
  const auto& f = kernels::cpu::cpu_features();
  switch (isa) {
    case KvIsa::kScalar: return true;
    case KvIsa::kAvx2: return f.avx2 && f.fma && f.f16c;
    case KvIsa::kAvx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl;
  }
  return false;
}

const KvSimd& kv_simd_best() {
  static const KvSimd& best = kv_isa_supported(KvIsa::kAvx512) ? kv_simd_avx512()
                              : kv_isa_supported(KvIsa::kAvx2) ? kv_simd_avx2()
                                                               : kv_simd_scalar();
  return best;
}

}  // namespace specula::kv
