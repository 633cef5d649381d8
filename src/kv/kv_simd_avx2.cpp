// AVX2 + FMA + F16C tier of the packed-cache attention loops. Decoding is exact (the same float products as
// the scalar codec): turbo indices are expanded with variable shifts and looked up in the group's
// norm-scaled centroid table with permutevar8x32 (two tables and a blend for the 16 turbo4 levels).
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "base/half.h"
#include "kv/kv_simd.h"
#include "quant/blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace specula::kv {

void kv_avx2_decode(const KvCodec& codec, const uint8_t* src, float* out);
float kv_avx2_exp_sum(float* s, int n, float max);
float kv_avx2_dot(const float* a, const float* b, int n);
void kv_avx2_axpy(float a, const float* x, float* y, int n);

namespace {

// exp(x) for x <= 0 (Cephes expf: x = k ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^k through the exponent
// bits); below -87 it returns about 1e-38 instead of underflowing.
__m256 exp_neg(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}


void decode_half(const uint8_t* src, float* out, int d, bool bf16) {
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    const __m256 f = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
    _mm256_storeu_ps(out + i, f);
  }
  for (; i < d; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    out[i] = bf16 ? bf16_to_fp32(h) : fp16_to_fp32(h);
  }
}

void decode_q8_0(const uint8_t* src, float* out, int d) {
  for (int b = 0; b < d / 32; ++b) {
    const uint8_t* blk = src + 34 * b;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const __m256 vd = _mm256_set1_ps(fp16_to_fp32(dh));
    for (int k = 0; k < 4; ++k) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * k));
      _mm256_storeu_ps(out + 32 * b + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), vd));
    }
  }
}

void decode_q4_0(const uint8_t* src, float* out, int d) {
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int b = 0; b < d / 32; ++b) {
    const uint8_t* blk = src + 18 * b;
    uint16_t dh;
    std::memcpy(&dh, blk, 2);
    const __m256 vd = _mm256_set1_ps(fp16_to_fp32(dh));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
    const __m128i lo = _mm_and_si128(bytes, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[k]), eight);
      _mm256_storeu_ps(out + 32 * b + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), vd));
    }
  }
}

void decode_turbo(const KvCodec& codec, const uint8_t* src, float* out) {
  const int g = codec.group();
  const int bits = codec.codebook()->bits;
  const size_t block_bytes = codec.head_bytes() / static_cast<size_t>(codec.head_dim() / g);
  const float* cent = codec.codebook()->centroids.data();
  const __m256i shift4 = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  const __m256i shift2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i shift1 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m15 = _mm256_set1_epi32(15), m3 = _mm256_set1_epi32(3), m1 = _mm256_set1_epi32(1);
  for (int g0 = 0; g0 < codec.head_dim(); g0 += g) {
    const uint8_t* block = src + static_cast<size_t>(g0 / g) * block_bytes;
    uint16_t nh;
    std::memcpy(&nh, block, 2);
    const __m256 vn = _mm256_set1_ps(fp16_to_fp32(nh));
    const __m256 t_lo = _mm256_mul_ps(_mm256_loadu_ps(cent), vn);
    const __m256 t_hi = _mm256_mul_ps(_mm256_loadu_ps(cent + 8), vn);
    const uint8_t* qs = block + 2;
    float* o = out + g0;
    for (int j = 0; j < g; j += 8) {
      __m256 val;
      if (bits == 4) {
        uint32_t w;
        std::memcpy(&w, qs + j / 2, 4);
        const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(w)), shift4), m15);
        const __m256 lo = _mm256_permutevar8x32_ps(t_lo, idx);
        const __m256 hi = _mm256_permutevar8x32_ps(t_hi, idx);
        val = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
      } else {
        uint16_t w;
        std::memcpy(&w, qs + j / 4, 2);
        __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w), shift2), m3);
        if (bits == 3) {
          const __m256i hb = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(qs[g / 4 + j / 8]), shift1), m1);
          idx = _mm256_or_si256(idx, _mm256_slli_epi32(hb, 2));
        }
        val = _mm256_permutevar8x32_ps(t_lo, idx);
      }
      _mm256_storeu_ps(o + j, val);
    }
  }
}

float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

float dot_avx2(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_avx2(float a, const float* x, float* y, int n) {
  const __m256 va = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace

float kv_avx2_dot(const float* a, const float* b, int n) { return dot_avx2(a, b, n); }
void kv_avx2_axpy(float a, const float* x, float* y, int n) { axpy_avx2(a, x, y, n); }

float kv_avx2_exp_sum(float* s, int n, float max) {
  const __m256 vm = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_neg(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
    _mm256_storeu_ps(s + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {
    alignas(32) float tail[8] = {};
    for (int j = i; j < n; ++j) tail[j - i] = s[j] - max;
    for (int j = n - i; j < 8; ++j) tail[j] = -INFINITY;
    const __m256 e = exp_neg(_mm256_load_ps(tail));
    _mm256_store_ps(tail, e);
    for (int j = i; j < n; ++j) s[j] = tail[j - i];
    acc = _mm256_add_ps(acc, _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(n - i - 1)))));
  }
  return hsum(acc);
}

void kv_avx2_decode(const KvCodec& codec, const uint8_t* src, float* out) {
  const int d = codec.head_dim();
  switch (codec.type()) {
    case KvType::kF32: std::memcpy(out, src, static_cast<size_t>(d) * sizeof(float)); return;
    case KvType::kF16: decode_half(src, out, d, false); return;
    case KvType::kBF16: decode_half(src, out, d, true); return;
    case KvType::kQ8_0: decode_q8_0(src, out, d); return;
    case KvType::kQ4_0: decode_q4_0(src, out, d); return;
    default: decode_turbo(codec, src, out); return;
  }
}

const KvSimd& kv_simd_avx2() {
  static const KvSimd table{KvIsa::kAvx2, "avx2", &kv_avx2_decode, &dot_avx2, &axpy_avx2, &kv_avx2_exp_sum};
  return table;
}

}  // namespace specula::kv
#pragma GCC pop_options
