// Integer dot-product tiles for the quantized weight types against int8-quantized activations
// (ActBlock32 / ActBlock256), plus the SIMD activation quantizers. 256-bit integer code; the includer sets
// SPECULA_VNNI = 1 to use AVX-512 VNNI (vpdpbusd) for the u8 x s8 products (same integer results).
// Included by exactly one isa_*.cpp each, inside an anonymous namespace after `#pragma GCC target(...)`.
// No include guard on purpose.
//
// Weight block layouts (ggml, little-endian; "h" = fp16):
//   q8_0 34 B: h d, i8 qs[32]                 q4_0 18 B: h d, u8 qs[16] (elem j: low nibble of qs[j],
//   q4_1 20 B: h d, h m, u8 qs[16]                                       elem j+16: high nibble)
//   q5_0 22 B: h d, u8 qh[4], u8 qs[16]       q5_1 24 B: h d, h m, u8 qh[4], u8 qs[16] (bit j of qh = bit 4 of elem j)
//   iq4_nl 18 B: h d, u8 qs[16] (nibbles index a 16-entry int8 codebook)
//   q4_K 144 B: h d, h dmin, u8 scales[12], u8 qs[128]     q5_K 176 B: ... scales[12], u8 qh[32], u8 qs[128]
//   q6_K 210 B: u8 ql[128], u8 qh[64], i8 scales[16], h d  q8_K 292 B: f32 d, i8 qs[256], i16 bsums[16]
// Products fit the int16 intermediates: maddubs pairs are at most 2 * 128 * 127 (s8 x s8 via sign trick)
// or 2 * 63 * 127 (6-bit unsigned weights), so nothing saturates and both code paths agree exactly.

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

inline __m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 8 int32 lanes, each the sum of 4 adjacent products u[i] * s[i] (u unsigned <= 128, s signed).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if SPECULA_VNNI
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

inline __m256i dot_s8s8(__m256i a, __m256i b) { return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)); }

// u[i] * s[i] pairs (int16) multiplied by a per-lane int16 scale and summed in pairs: 8 int32 lanes.
inline __m256i dot_u8s8_scaled(__m256i u, __m256i s, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline float hsum_f32x8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 16 packed bytes -> 32 nibbles: lanes 0..15 the low nibbles, 16..31 the high nibbles.
inline __m256i unpack_nibbles16(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

// Byte i = 0x10 where bit i of the 32-bit little-endian word at p is set, else 0.
inline __m256i bits_to_0x10(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, sizeof(bits));
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i mask = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The byte offsets used below are quant/blocks.h's layouts; keep them in sync at compile time.
static_assert(sizeof(quant::BlockQ8_0) == 34 && sizeof(quant::BlockQ4_0) == 18 && sizeof(quant::BlockQ4_1) == 20);
static_assert(offsetof(quant::BlockQ5_0, qh) == 2 && offsetof(quant::BlockQ5_0, qs) == 6);
static_assert(offsetof(quant::BlockQ5_1, qh) == 4 && offsetof(quant::BlockQ5_1, qs) == 8);
static_assert(offsetof(quant::BlockQ4_K, scales) == 4 && offsetof(quant::BlockQ4_K, qs) == 16);
static_assert(offsetof(quant::BlockQ5_K, qh) == 16 && offsetof(quant::BlockQ5_K, qs) == 48);
static_assert(offsetof(quant::BlockQ6_K, qh) == 128 && offsetof(quant::BlockQ6_K, scales) == 192 &&
              offsetof(quant::BlockQ6_K, d) == 208 && sizeof(quant::BlockQ6_K) == 210);
static_assert(offsetof(quant::BlockQ8_K, qs) == 4 && sizeof(quant::BlockQ8_K) == 292);
static_assert(sizeof(quant::BlockIQ4_NL) == 18);
using quant::kIq4nlValues;

// ---- 32-wide block formats. decode() yields the 32 weights as bytes (unsigned unless kSigned), the scale d
// and the offset term: value = d * (q - kOffset) + m.
struct FmtQ8_0 {
  static constexpr size_t kBytes = 34;
  static constexpr bool kSigned = true, kHasMin = false;
  static constexpr int kOffset = 0;
  static __m256i decode(const uint8_t* b, float& d, float& m) {
    d = load_f16(b);
    m = 0.0f;
    return loadu256(b + 2);
  }
};
struct FmtQ4_0 {
  static constexpr size_t kBytes = 18;
  static constexpr bool kSigned = false, kHasMin = false;
  static constexpr int kOffset = 8;
  static __m256i decode(const uint8_t* b, float& d, float& m) {
    d = load_f16(b);
    m = 0.0f;
    return unpack_nibbles16(b + 2);
  }
};
struct FmtQ4_1 {
  static constexpr size_t kBytes = 20;
  static constexpr bool kSigned = false, kHasMin = true;
  static constexpr int kOffset = 0;
  static __m256i decode(const uint8_t* b, float& d, float& m) {
    d = load_f16(b);
    m = load_f16(b + 2);
    return unpack_nibbles16(b + 4);
  }
};
struct FmtQ5_0 {
  static constexpr size_t kBytes = 22;
  static constexpr bool kSigned = false, kHasMin = false;
  static constexpr int kOffset = 16;
  static __m256i decode(const uint8_t* b, float& d, float& m) {
    d = load_f16(b);
    m = 0.0f;
    return _mm256_or_si256(unpack_nibbles16(b + 6), bits_to_0x10(b + 2));
  }
};
struct FmtQ5_1 {
  static constexpr size_t kBytes = 24;
  static constexpr bool kSigned = false, kHasMin = true;
  static constexpr int kOffset = 0;
  static __m256i decode(const uint8_t* b, float& d, float& m) {
    d = load_f16(b);
    m = load_f16(b + 2);
    return _mm256_or_si256(unpack_nibbles16(b + 8), bits_to_0x10(b + 4));
  }
};
struct FmtIq4Nl {
  static constexpr size_t kBytes = 18;
  static constexpr bool kSigned = true, kHasMin = false;
  static constexpr int kOffset = 0;
  static __m256i decode(const uint8_t* b, float& d, float& m) {
    d = load_f16(b);
    m = 0.0f;
    const __m128i lut = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues));
    return _mm256_shuffle_epi8(_mm256_set_m128i(lut, lut), unpack_nibbles16(b + 2));
  }
};

// Per block and token: integer sum (minus the offset times the activation sum, exact), scaled by d * dx into
// 8 float lanes; the min term (d-independent) accumulates separately. Order depends only on the row.
template <typename F, int NT>
inline void dot32(const uint8_t* row, const ActBlock32* const* x, int64_t nb, float* out) {
  __m256 acc[NT];
  float acc_min[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    acc_min[t] = 0.0f;
  }
  for (int64_t i = 0; i < nb; ++i) {
    float d, m;
    prefetch_stream<F::kBytes>(row + static_cast<size_t>(i) * F::kBytes);
    const __m256i q = F::decode(row + static_cast<size_t>(i) * F::kBytes, d, m);
    for (int t = 0; t < NT; ++t) {
      const ActBlock32& xb = x[t][i];
      const __m256i xq = loadu256(xb.qs);
      __m256i p = F::kSigned ? dot_s8s8(q, xq) : dot_u8s8(q, xq);
      if constexpr (F::kOffset != 0) p = _mm256_sub_epi32(p, _mm256_setr_epi32(F::kOffset * xb.sum, 0, 0, 0, 0, 0, 0, 0));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(p), acc[t]);
      if constexpr (F::kHasMin) acc_min[t] = std::fma(m * xb.d, static_cast<float>(xb.sum), acc_min[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(acc[t]) + acc_min[t];
}

// ---- 256-wide K-quant formats.

// The 8 six-bit scales (sc8) and mins (mn8) of a q4_K / q5_K block, byte j = sub-block j, from ggml's
// 12-byte packing: with little-endian words a, b, c = bytes 0-3, 4-7, 8-11,
//   scales 0-3 = a & 63, mins 0-3 = b & 63, scales 4-7 = (c & 15) | (a >> 6) << 4, mins 4-7 = (c >> 4) | (b >> 6) << 4.
inline void unpack_k4_scales(const uint8_t* s, uint64_t& sc8, uint64_t& mn8) {
  uint32_t a, b, c;
  std::memcpy(&a, s, 4);
  std::memcpy(&b, s + 4, 4);
  std::memcpy(&c, s + 8, 4);
  const uint32_t sc_hi = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
  const uint32_t mn_hi = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
  sc8 = (a & 0x3F3F3F3Fu) | (static_cast<uint64_t>(sc_hi) << 32);
  mn8 = (b & 0x3F3F3F3Fu) | (static_cast<uint64_t>(mn_hi) << 32);
}

// Shuffle control that broadcasts int16 element e of each 128-bit lane to the whole lane.
inline __m256i bcast16_mask(int e) { return _mm256_set1_epi16(static_cast<short>(0x0100 + 0x0202 * e)); }
// Shuffle control: int16 element e_lo to the low lane, e_hi to the high lane.
inline __m256i bcast16_mask2(int e_lo, int e_hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(0x0100 + 0x0202 * e_hi)),
                          _mm_set1_epi16(static_cast<short>(0x0100 + 0x0202 * e_lo)));
}

// q4_K (kHigh = false) and q5_K (kHigh = true): 4 chunks of 64 values; chunk j holds sub-blocks 2j (low
// nibbles [+ qh bit 2j]) and 2j+1 (high nibbles [+ qh bit 2j+1]); value = d*sc*q - dmin*mn. Per token and
// block: integer sums of sc*q*x (8 lanes) and of mn * (pair of 16-value activation sums) (8 lanes, one per
// sub-block), folded into one float accumulator as d*dx*isum - dmin*dx*msum.
template <bool kHigh, int NT>
inline void dot_q45k(const uint8_t* row, const ActBlock256* const* x, int64_t nb, float* out) {
  constexpr size_t kBytes = kHigh ? 176 : 144;
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* b = row + static_cast<size_t>(i) * kBytes;
    prefetch_stream<kBytes>(b);
    const float d = load_f16(b), dmin = load_f16(b + 2);
    uint64_t sc8, mn8;
    unpack_k4_scales(b + 4, sc8, mn8);
    const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc8))));
    const __m128i mn = _mm_cvtsi64_si128(static_cast<long long>(mn8));
    const __m256i mn_pairs = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));  // m0 m0 m1 m1 ... m7 m7
    const uint8_t* qs = b + (kHigh ? 48 : 16);
    __m256i hb = kHigh ? loadu256(b + 16) : _mm256_setzero_si256();
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i q = loadu256(qs + 32 * j);
      __m256i lo = _mm256_and_si256(q, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      if constexpr (kHigh) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hb, one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), one), 4));
        hb = _mm256_srli_epi16(hb, 2);
      }
      const __m256i s_lo = _mm256_shuffle_epi8(sc16, bcast16_mask(2 * j));
      const __m256i s_hi = _mm256_shuffle_epi8(sc16, bcast16_mask(2 * j + 1));
      for (int t = 0; t < NT; ++t) {
        const int8_t* xq = x[t][i].qs + 64 * j;
        const __m256i p = _mm256_add_epi32(dot_u8s8_scaled(lo, loadu256(xq), s_lo),
                                           dot_u8s8_scaled(hi, loadu256(xq + 32), s_hi));
        isum[t] = _mm256_add_epi32(isum[t], p);
      }
    }
    for (int t = 0; t < NT; ++t) {
      const ActBlock256& xb = x[t][i];
      const __m256i msum = _mm256_madd_epi16(loadu256(xb.bsums), mn_pairs);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * xb.d), _mm256_cvtepi32_ps(msum), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(acc[t]);
}

#if SPECULA_VEC_BITS == 512
// AVX-512BW variant of dot_q45k: one 512-bit vector per 64-value chunk (sub-block 2j in the low half,
// 2j+1 in the high half) against one 512-bit load of the activations. The chunk's 32 bytes are broadcast to
// both halves and shifted by 0 / 4 bits per half, so no cross-lane shuffles are needed. The integer sums
// are exactly those of the 256-bit code; they are folded to 8 lanes before the same float steps.
template <bool kHigh, int NT>
inline void dot_q45k_512(const uint8_t* row, const ActBlock256* const* x, int64_t nb, float* out) {
  constexpr size_t kBytes = kHigh ? 176 : 144;
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i one = _mm512_set1_epi8(1);
  const __m512i nibble_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* b = row + static_cast<size_t>(i) * kBytes;
    prefetch_stream<kBytes>(b);
    const float d = load_f16(b), dmin = load_f16(b + 2);
    uint64_t sc8, mn8;
    unpack_k4_scales(b + 4, sc8, mn8);
    const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(sc8))));
    const __m128i mn = _mm_cvtsi64_si128(static_cast<long long>(mn8));
    const __m256i mn_pairs = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));
    const uint8_t* qs = b + (kHigh ? 48 : 16);
    const __m512i hb = kHigh ? _mm512_broadcast_i64x4(loadu256(b + 16)) : _mm512_setzero_si512();
    __m512i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      const __m512i q = _mm512_broadcast_i64x4(loadu256(qs + 32 * j));
      __m512i w = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), low4);
      if constexpr (kHigh) {
        const __m512i hshift =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(static_cast<short>(2 * j))),
                               _mm256_set1_epi16(static_cast<short>(2 * j + 1)), 1);
        w = _mm512_or_si512(w, _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(hb, hshift), one), 4));
      }
      const __m512i smask = _mm512_inserti64x4(_mm512_castsi256_si512(bcast16_mask(2 * j)), bcast16_mask(2 * j + 1), 1);
      const __m512i s16 = _mm512_shuffle_epi8(sc16, smask);
      for (int t = 0; t < NT; ++t) {
        const __m512i xq = _mm512_loadu_si512(x[t][i].qs + 64 * j);
        isum[t] = _mm512_add_epi32(isum[t], _mm512_madd_epi16(_mm512_maddubs_epi16(w, xq), s16));
      }
    }
    for (int t = 0; t < NT; ++t) {
      const ActBlock256& xb = x[t][i];
      const __m256i is8 = _mm256_add_epi32(_mm512_castsi512_si256(isum[t]), _mm512_extracti64x4_epi64(isum[t], 1));
      const __m256i msum = _mm256_madd_epi16(loadu256(xb.bsums), mn_pairs);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(is8), acc[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin * xb.d), _mm256_cvtepi32_ps(msum), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(acc[t]);
}
#endif

// q6_K: two chunks of 128; in chunk n, vector k (k < 4) holds values 32k.. of the chunk, built from
// ql[64n + 32(k&1)] (low nibble for k < 2, high for k >= 2) and bits 2k of qh[32n ..]; 16 values per scale.
// value = d * sc[g] * (q - 32); the -32 is applied exactly through the activation's 16-value sums.
template <int NT>
inline void dot_q6k(const uint8_t* row, const ActBlock256* const* x, int64_t nb, float* out) {
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  const __m256i low4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* b = row + static_cast<size_t>(i) * 210;
    prefetch_stream<210>(b);
    const float d = load_f16(b + 208);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
    const __m256i sc_all = _mm256_cvtepi8_epi16(sc8);  // 16 scales as int16
    const __m256i sc_half[2] = {_mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(sc8)),
                                _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8)))};
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      const __m256i ql0 = loadu256(b + 64 * n), ql1 = loadu256(b + 64 * n + 32);
      const __m256i qh = loadu256(b + 128 + 32 * n);
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4));
      for (int k = 0; k < 4; ++k) {
        // scales 8n + 2k (first 16 values) and 8n + 2k + 1 (next 16).
        const __m256i s16 = _mm256_shuffle_epi8(sc_half[n], bcast16_mask2(2 * k, 2 * k + 1));
        for (int t = 0; t < NT; ++t) {
          const __m256i xq = loadu256(x[t][i].qs + 128 * n + 32 * k);
          isum[t] = _mm256_add_epi32(isum[t], dot_u8s8_scaled(q[k], xq, s16));
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      const ActBlock256& xb = x[t][i];
      const __m256i corr = _mm256_madd_epi16(sc_all, loadu256(xb.bsums));  // sum_g sc[g] * bsums[g], in pairs
      const __m256i p = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(corr, 5));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb.d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(acc[t]);
}

// q8_K weights: value = d * q (float d), signed x signed.
template <int NT>
inline void dot_q8k(const uint8_t* row, const ActBlock256* const* x, int64_t nb, float* out) {
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* b = row + static_cast<size_t>(i) * 292;
    prefetch_stream<292>(b);
    float d;
    std::memcpy(&d, b, sizeof(d));
    __m256i isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i q = loadu256(b + 4 + 32 * j);
      for (int t = 0; t < NT; ++t) isum[t] = _mm256_add_epi32(isum[t], dot_s8s8(q, loadu256(x[t][i].qs + 32 * j)));
    }
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * x[t][i].d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum_f32x8(acc[t]);
}

// Kernel adaptors: K::kBlock values per block, K::Act the activation block, K::dot<NT>(row, x, nb, out).
template <typename F>
struct K32 {
  static constexpr int64_t kBlock = 32;
  using Act = ActBlock32;
  template <int NT>
  static void dot(const uint8_t* row, const Act* const* x, int64_t nb, float* out) { dot32<F, NT>(row, x, nb, out); }
};
template <bool kHigh>
struct KQ45 {
  static constexpr int64_t kBlock = 256;
  using Act = ActBlock256;
  template <int NT>
  static void dot(const uint8_t* row, const Act* const* x, int64_t nb, float* out) {
#if SPECULA_VEC_BITS == 512
    dot_q45k_512<kHigh, NT>(row, x, nb, out);
#else
    dot_q45k<kHigh, NT>(row, x, nb, out);
#endif
  }
};
struct KQ6 {
  static constexpr int64_t kBlock = 256;
  using Act = ActBlock256;
  template <int NT>
  static void dot(const uint8_t* row, const Act* const* x, int64_t nb, float* out) { dot_q6k<NT>(row, x, nb, out); }
};
struct KQ8K {
  static constexpr int64_t kBlock = 256;
  using Act = ActBlock256;
  template <int NT>
  static void dot(const uint8_t* row, const Act* const* x, int64_t nb, float* out) { dot_q8k<NT>(row, x, nb, out); }
};

constexpr int kQuantNt = 4;  // tokens sharing one decode of a weight block

template <typename K>
void tile_quant(const MatrixView& w, int64_t r0, int64_t r1, const void* act, size_t act_stride, int64_t n_tok,
                float* y, int64_t y_stride) {
  using Act = typename K::Act;
  const auto* base = static_cast<const uint8_t*>(act);
  auto xrow = [&](int64_t t) { return reinterpret_cast<const Act*>(base + static_cast<size_t>(t) * act_stride); };
  const int64_t nb = w.cols / K::kBlock;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* wr = w.row(r);
    int64_t t = 0;
    for (; t + kQuantNt <= n_tok; t += kQuantNt) {
      const Act* xs[kQuantNt];
      float out[kQuantNt];
      for (int k = 0; k < kQuantNt; ++k) xs[k] = xrow(t + k);
      K::template dot<kQuantNt>(wr, xs, nb, out);
      for (int k = 0; k < kQuantNt; ++k) y[(t + k) * y_stride + r] = out[k];
    }
    for (; t < n_tok; ++t) {
      const Act* xs[1] = {xrow(t)};
      K::template dot<1>(wr, xs, nb, &y[t * y_stride + r]);
    }
  }
}

// ---- Activation quantizers (same arithmetic as kernels/act_quant.cpp, so the results are identical).

// Quantizes `size` (a multiple of 8) floats; returns d and writes q. The int8 packing goes through a
// small buffer: 8 int32 -> 8 int8 per step.
inline float quantize_block_simd(const float* x, int size, int8_t* q) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 vmax = _mm256_setzero_ps();
  for (int i = 0; i < size; i += 8) vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float amax = _mm_cvtss_f32(m4);
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  for (int i = 0; i < size; i += 32) {
    const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vid));
    const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), vid));
    const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), vid));
    const __m256i e = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), vid));
    // packs interleave 128-bit lanes; the permute restores element order.
    const __m256i ab = _mm256_packs_epi32(a, b), ce = _mm256_packs_epi32(c, e);
    __m256i bytes = _mm256_packs_epi16(ab, ce);
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), bytes);
  }
  return d;
}

inline int sum_i8x16(const int8_t* q) {
  const __m128i v = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
  const __m128i w = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 8)));
  __m128i s = _mm_madd_epi16(_mm_add_epi16(v, w), _mm_set1_epi16(1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

void q_quantize_act32(const float* x, int64_t n, ActBlock32* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    out[b].d = quantize_block_simd(x + 32 * b, 32, out[b].qs);
    out[b].sum = sum_i8x16(out[b].qs) + sum_i8x16(out[b].qs + 16);
  }
}

void q_quantize_act256(const float* x, int64_t n, ActBlock256* out) {
  for (int64_t b = 0; b < n / 256; ++b) {
    out[b].d = quantize_block_simd(x + 256 * b, 256, out[b].qs);
    for (int j = 0; j < 16; ++j) out[b].bsums[j] = static_cast<int16_t>(sum_i8x16(out[b].qs + 16 * j));
  }
}
