// Per-ISA inner loops of the packed-cache attention (runtime dispatch like kernels/cpu: one translation
// unit per instruction set fills a table; the best supported one is picked once).
// Contract of every entry: decode() writes exactly what KvCodec::decode (the scalar oracle) writes, bit for
// bit; dot/axpy reduce in a fixed order that depends only on n (never on the caller's batch or threads).
#pragma once

#include <cstdint>

#include "kv/codec.h"

namespace specula::kv {

enum class KvIsa { kScalar, kAvx2, kAvx512 };

struct KvSimd {
  KvIsa isa = KvIsa::kScalar;
  const char* name = "";
  // One head vector of the codec's head_dim values, storage domain.
  void (*decode)(const KvCodec& codec, const uint8_t* src, float* out) = nullptr;
  float (*dot)(const float* a, const float* b, int n) = nullptr;
  void (*axpy)(float a, const float* x, float* y, int n) = nullptr;  // y += a * x
  // s[i] = exp(s[i] - max) for i < n; returns their sum. exp within 2 ulp of std::exp.
  float (*exp_sum)(float* s, int n, float max) = nullptr;
};

const KvSimd& kv_simd_scalar();
const KvSimd& kv_simd_avx2();    // call only when kv_isa_supported(kAvx2)
const KvSimd& kv_simd_avx512();  // call only when kv_isa_supported(kAvx512)
bool kv_isa_supported(KvIsa isa);
const KvSimd& kv_simd_best();

}  // namespace specula::kv
