// AVX-512 tier: 512-bit dot/axpy and turbo decoding; the other codecs decode with the AVX2 routines.
// GCC 12's AVX-512 intrinsic headers trip -Wuninitialized on their own _mm512_undefined_* temporaries.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "base/half.h"
#include "kv/kv_simd.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")
namespace specula::kv {

void kv_avx2_decode(const KvCodec& codec, const uint8_t* src, float* out);
float kv_avx2_exp_sum(float* s, int n, float max);
float kv_avx2_dot(const float* a, const float* b, int n);
void kv_avx2_axpy(float a, const float* x, float* y, int n);

namespace {

// Turbo groups with 16-lane table lookups (permutexvar over the norm-scaled centroids): exact like the scalar
// codec (the same float product centroid * norm).
void decode_turbo512(const KvCodec& codec, const uint8_t* src, float* out) {
  const int g = codec.group();
  const int bits = codec.codebook()->bits;
  const size_t block_bytes = codec.head_bytes() / static_cast<size_t>(codec.head_dim() / g);
  const __m512 cent = _mm512_loadu_ps(codec.codebook()->centroids.data());
  const __m512i shift2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i shift1 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i m3 = _mm512_set1_epi32(3), m1 = _mm512_set1_epi32(1);
  const __m128i m15 = _mm_set1_epi8(0x0f);
  for (int g0 = 0; g0 < codec.head_dim(); g0 += g) {
    const uint8_t* block = src + static_cast<size_t>(g0 / g) * block_bytes;
    uint16_t nh;
    std::memcpy(&nh, block, 2);
    const __m512 table = _mm512_mul_ps(cent, _mm512_set1_ps(fp16_to_fp32(nh)));
    const uint8_t* qs = block + 2;
    float* o = out + g0;
    for (int j = 0; j < g; j += 16) {
      __m512i idx;
      if (bits == 4) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(qs + j / 2));
        const __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(b, m15), _mm_and_si128(_mm_srli_epi16(b, 4), m15));
        idx = _mm512_cvtepu8_epi32(nib);
      } else {
        uint32_t w;
        std::memcpy(&w, qs + j / 4, 4);
        idx = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(static_cast<int>(w)), shift2), m3);
        if (bits == 3) {
          uint16_t h;
          std::memcpy(&h, qs + g / 4 + j / 8, 2);
          const __m512i hb = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(h), shift1), m1);
          idx = _mm512_or_si512(idx, _mm512_slli_epi32(hb, 2));
        }
      }
      _mm512_storeu_ps(o + j, _mm512_permutexvar_ps(idx, table));
    }
  }
}

void decode_avx512(const KvCodec& codec, const uint8_t* src, float* out) {
  if (codec.rotated() && codec.group() % 16 == 0) {
    decode_turbo512(codec, src, out);
  } else {
    kv_avx2_decode(codec, src, out);
  }
}

float dot_avx512(const float* a, const float* b, int n) {
  if (n < 32) return kv_avx2_dot(a, b, n);  // short heads: 256-bit lanes and no masked tail
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void axpy_avx512(float a, const float* x, float* y, int n) {
  if (n < 16) {
    kv_avx2_axpy(a, x, y, n);
    return;
  }
  const __m512 va = _mm512_set1_ps(a);
  int i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

}  // namespace

const KvSimd& kv_simd_avx512() {
  static const KvSimd table{KvIsa::kAvx512, "avx512", &decode_avx512, &dot_avx512, &axpy_avx512, &kv_avx2_exp_sum};
  return table;
}

}  // namespace specula::kv
#pragma GCC pop_options
#pragma GCC diagnostic pop
