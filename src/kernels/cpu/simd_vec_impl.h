// Float SIMD building blocks and the float kernels (f32/f16/bf16 dot tiles, elementwise ops) written once
// for a vector width chosen by the including translation unit: SPECULA_VEC_BITS = 256 (AVX2+FMA+F16C) or
// 512 (AVX-512F). Included by exactly one isa_*.cpp each, after `#pragma GCC target(...)` and inside an
// anonymous namespace, so every definition here has internal linkage and is compiled for that ISA only.
// No include guard on purpose; the includer must include <immintrin.h>, <cmath>, <cstring> first.

#if SPECULA_VEC_BITS == 512
struct VecF {
  using T = __m512;
  static constexpr int kW = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float v) { return _mm512_set1_ps(v); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T load_f16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static T load_bf16(const uint16_t* p) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T max(T a, T b) { return _mm512_max_ps(a, b); }
  static T min(T a, T b) { return _mm512_min_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }
  static T round(T a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n for integral n in [-126, 127] held in a float vector.
  static T pow2i(T n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  // a where a >= limit, else 0.
  static T zero_below(T a, T x, float limit) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, set1(limit), _CMP_GE_OQ), a);
  }
  static float hsum(T v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(T v) {
    const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#else
struct VecF {
  using T = __m256;
  static constexpr int kW = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float v) { return _mm256_set1_ps(v); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static T load_bf16(const uint16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnmadd(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }
  static T round(T a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static T pow2i(T n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static T zero_below(T a, T x, float limit) { return _mm256_and_ps(a, _mm256_cmp_ps(x, set1(limit), _CMP_GE_OQ)); }
  static float hsum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static float hmax(T v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#endif

using V = VecF::T;
constexpr int kW = VecF::kW;

// Software prefetch of a weight stream kPrefetchDistance bytes ahead of the bytes being consumed, one cache
// line per 64 bytes consumed, so the lines in flight stay steady. Without it the dot kernels overlap compute
// with memory poorly: measured on a 1 GiB q4_K matvec, 60% -> 80% of the read bandwidth per CPU second
// (per-row bursts of prefetches did worse: they exhaust the line-fill buffers). Prefetching past the end of
// a matrix is harmless (prefetches never fault).
constexpr size_t kPrefetchDistance = 2048;
template <size_t kBytes>
inline void prefetch_stream(const void* p) {
  const char* c = static_cast<const char*>(p) + kPrefetchDistance;
  for (size_t off = 0; off < kBytes; off += 64) _mm_prefetch(c + off, _MM_HINT_T1);
}

// e^x to ~2 ulp for x in [-87.3, 88.3]; 0 below that range (so exp(-inf) == 0), finite ~2.4e38 above.
// Range reduction x = n ln2 + r with |r| <= ln2/2, then a degree-7 Taylor polynomial (truncation < 1e-8).
inline V vexp(V x) {
  constexpr float kLo = -87.3f;
  const V xc = VecF::min(VecF::max(x, VecF::set1(kLo)), VecF::set1(88.3f));
  const V n = VecF::round(VecF::mul(xc, VecF::set1(1.44269504088896341f)));
  V r = VecF::fnmadd(n, VecF::set1(0.693359375f), xc);
  r = VecF::fnmadd(n, VecF::set1(-2.12194440e-4f), r);
  V p = VecF::set1(1.0f / 5040.0f);
  p = VecF::fmadd(p, r, VecF::set1(1.0f / 720.0f));
  p = VecF::fmadd(p, r, VecF::set1(1.0f / 120.0f));
  p = VecF::fmadd(p, r, VecF::set1(1.0f / 24.0f));
  p = VecF::fmadd(p, r, VecF::set1(1.0f / 6.0f));
  p = VecF::fmadd(p, r, VecF::set1(0.5f));
  p = VecF::fmadd(p, r, VecF::set1(1.0f));
  p = VecF::fmadd(p, r, VecF::set1(1.0f));
  return VecF::zero_below(VecF::mul(p, VecF::pow2i(n)), x, kLo);
}

// x * sigmoid(x) = x / (1 + e^-x).
inline V vsilu(V x) {
  const V e = vexp(VecF::mul(x, VecF::set1(-1.0f)));
  return VecF::div(x, VecF::add(VecF::set1(1.0f), e));
}

// 0.5 x (1 + tanh(y)) with y = sqrt(2/pi) (x + 0.044715 x^3), computed as x / (1 + e^(-2y)) (same function).
inline V vgelu_tanh(V x) {
  const V x3 = VecF::mul(VecF::mul(x, x), x);
  const V inner = VecF::fmadd(VecF::set1(0.044715f), x3, x);
  const V e = vexp(VecF::mul(inner, VecF::set1(-2.0f * 0.7978845608028654f)));
  return VecF::div(x, VecF::add(VecF::set1(1.0f), e));
}

// Applies a vector function to n values, the last partial vector through a zero-padded copy, so every
// element goes through the identical vector code whatever its position (needed for batch invariance).
template <typename Fn>
inline void map_unary(const float* x, int64_t n, float* out, Fn fn) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) VecF::store(out + i, fn(VecF::load(x + i)));
  if (i < n) {
    alignas(64) float buf[kW] = {};
    std::memcpy(buf, x + i, static_cast<size_t>(n - i) * sizeof(float));
    VecF::store(buf, fn(VecF::load(buf)));
    std::memcpy(out + i, buf, static_cast<size_t>(n - i) * sizeof(float));
  }
}

template <typename Fn>
inline void map_binary(const float* a, const float* b, int64_t n, float* out, Fn fn) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) VecF::store(out + i, fn(VecF::load(a + i), VecF::load(b + i)));
  if (i < n) {
    alignas(64) float ba[kW] = {};
    alignas(64) float bb[kW] = {};
    std::memcpy(ba, a + i, static_cast<size_t>(n - i) * sizeof(float));
    std::memcpy(bb, b + i, static_cast<size_t>(n - i) * sizeof(float));
    VecF::store(ba, fn(VecF::load(ba), VecF::load(bb)));
    std::memcpy(out + i, ba, static_cast<size_t>(n - i) * sizeof(float));
  }
}

void v_gelu_tanh(const float* x, int64_t n, float* out) { map_unary(x, n, out, vgelu_tanh); }
void v_silu(const float* x, int64_t n, float* out) { map_unary(x, n, out, vsilu); }
// Named functions, not lambdas: GCC does not apply the TU's target pragma to a lambda's call operator.
inline V vgelu_tanh_mul(V a, V b) { return VecF::mul(vgelu_tanh(a), b); }
inline V vsilu_mul(V a, V b) { return VecF::mul(vsilu(a), b); }
void v_gelu_tanh_mul(const float* g, const float* u, int64_t n, float* out) { map_binary(g, u, n, out, vgelu_tanh_mul); }
void v_silu_mul(const float* g, const float* u, int64_t n, float* out) { map_binary(g, u, n, out, vsilu_mul); }

// Sum of squares with four lane-parallel accumulators; the order depends only on n.
inline float sum_squares(const float* x, int64_t n) {
  V a0 = VecF::zero(), a1 = VecF::zero(), a2 = VecF::zero(), a3 = VecF::zero();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    const V x0 = VecF::load(x + i), x1 = VecF::load(x + i + kW);
    const V x2 = VecF::load(x + i + 2 * kW), x3 = VecF::load(x + i + 3 * kW);
    a0 = VecF::fmadd(x0, x0, a0);
    a1 = VecF::fmadd(x1, x1, a1);
    a2 = VecF::fmadd(x2, x2, a2);
    a3 = VecF::fmadd(x3, x3, a3);
  }
  for (; i + kW <= n; i += kW) {
    const V x0 = VecF::load(x + i);
    a0 = VecF::fmadd(x0, x0, a0);
  }
  if (i < n) {
    alignas(64) float buf[kW] = {};
    std::memcpy(buf, x + i, static_cast<size_t>(n - i) * sizeof(float));
    const V x0 = VecF::load(buf);
    a0 = VecF::fmadd(x0, x0, a0);
  }
  return VecF::hsum(VecF::add(VecF::add(a0, a1), VecF::add(a2, a3)));
}

void v_rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const float scale = 1.0f / std::sqrt(sum_squares(x, n) / static_cast<float>(n) + eps);
  const V vs = VecF::set1(scale);
  int64_t i = 0;
  if (weight != nullptr) {
    for (; i + kW <= n; i += kW) VecF::store(out + i, VecF::mul(VecF::mul(VecF::load(x + i), vs), VecF::load(weight + i)));
    for (; i < n; ++i) out[i] = (x[i] * scale) * weight[i];
  } else {
    for (; i + kW <= n; i += kW) VecF::store(out + i, VecF::mul(VecF::load(x + i), vs));
    for (; i < n; ++i) out[i] = x[i] * scale;
  }
}

void v_softmax_row(float* x, int64_t n) {
  V vm = VecF::set1(-INFINITY);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) vm = VecF::max(vm, VecF::load(x + i));
  float m = VecF::hmax(vm);
  for (; i < n; ++i) m = std::fmax(m, x[i]);
  const V vmax = VecF::set1(m);
  V acc = VecF::zero();
  for (i = 0; i + kW <= n; i += kW) {
    const V e = vexp(VecF::sub(VecF::load(x + i), vmax));
    VecF::store(x + i, e);
    acc = VecF::add(acc, e);
  }
  if (i < n) {
    alignas(64) float buf[kW];
    for (int j = 0; j < kW; ++j) buf[j] = i + j < n ? x[i + j] - m : -INFINITY;
    const V e = vexp(VecF::load(buf));
    VecF::store(buf, e);
    acc = VecF::add(acc, e);
    std::memcpy(x + i, buf, static_cast<size_t>(n - i) * sizeof(float));
  }
  const float inv = 1.0f / VecF::hsum(acc);
  const V vinv = VecF::set1(inv);
  for (i = 0; i + kW <= n; i += kW) VecF::store(x + i, VecF::mul(VecF::load(x + i), vinv));
  for (; i < n; ++i) x[i] = x[i] * inv;
}

void v_f16_to_f32(const uint16_t* x, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) VecF::store(out + i, VecF::load_f16(x + i));
  for (; i < n; ++i) out[i] = _cvtsh_ss(x[i]);
}

void v_bf16_to_f32(const uint16_t* x, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) VecF::store(out + i, VecF::load_bf16(x + i));
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
    std::memcpy(out + i, &bits, sizeof(float));
  }
}

// ---- Float-weight dot tiles. Per token: four lane-parallel accumulators over 4*kW columns, then single
// vectors, then a scalar tail; the order depends only on the row width, never on NT.

struct LoadF32 {
  using Elem = float;
  static V load(const float* p) { return VecF::load(p); }
  static float scalar(const float* p) { return *p; }
};
struct LoadF16 {
  using Elem = uint16_t;
  static V load(const uint16_t* p) { return VecF::load_f16(p); }
  static float scalar(const uint16_t* p) { return _cvtsh_ss(*p); }
};
struct LoadBF16 {
  using Elem = uint16_t;
  static V load(const uint16_t* p) { return VecF::load_bf16(p); }
  static float scalar(const uint16_t* p) {
    const uint32_t bits = static_cast<uint32_t>(*p) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
};

template <typename L, int NT>
inline void dot_float(const typename L::Elem* w, const float* const* x, int64_t n, float* out) {
  V acc[NT][4];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = VecF::zero();
  int64_t i = 0;
  for (; i + 4 * kW <= n; i += 4 * kW) {
    prefetch_stream<4 * kW * sizeof(typename L::Elem)>(w + i);
    const V w0 = L::load(w + i), w1 = L::load(w + i + kW), w2 = L::load(w + i + 2 * kW), w3 = L::load(w + i + 3 * kW);
    for (int t = 0; t < NT; ++t) {
      acc[t][0] = VecF::fmadd(w0, VecF::load(x[t] + i), acc[t][0]);
      acc[t][1] = VecF::fmadd(w1, VecF::load(x[t] + i + kW), acc[t][1]);
      acc[t][2] = VecF::fmadd(w2, VecF::load(x[t] + i + 2 * kW), acc[t][2]);
      acc[t][3] = VecF::fmadd(w3, VecF::load(x[t] + i + 3 * kW), acc[t][3]);
    }
  }
  for (; i + kW <= n; i += kW) {
    const V w0 = L::load(w + i);
    for (int t = 0; t < NT; ++t) acc[t][0] = VecF::fmadd(w0, VecF::load(x[t] + i), acc[t][0]);
  }
  for (int t = 0; t < NT; ++t) {
    float s = VecF::hsum(VecF::add(VecF::add(acc[t][0], acc[t][1]), VecF::add(acc[t][2], acc[t][3])));
    for (int64_t j = i; j < n; ++j) s = std::fma(L::scalar(w + j), x[t][j], s);
    out[t] = s;
  }
}

constexpr int kFloatNt = kW == 16 ? 4 : 2;  // tokens per weight pass: bounded by the register file

template <typename L>
void tile_float(const MatrixView& w, int64_t r0, int64_t r1, const void* act, size_t act_stride, int64_t n_tok,
                float* y, int64_t y_stride) {
  const auto* base = static_cast<const uint8_t*>(act);
  auto xrow = [&](int64_t t) { return reinterpret_cast<const float*>(base + static_cast<size_t>(t) * act_stride); };
  for (int64_t r = r0; r < r1; ++r) {
    const auto* wr = reinterpret_cast<const typename L::Elem*>(w.row(r));
    int64_t t = 0;
    for (; t + kFloatNt <= n_tok; t += kFloatNt) {
      const float* xs[kFloatNt];
      float out[kFloatNt];
      for (int k = 0; k < kFloatNt; ++k) xs[k] = xrow(t + k);
      dot_float<L, kFloatNt>(wr, xs, w.cols, out);
      for (int k = 0; k < kFloatNt; ++k) y[(t + k) * y_stride + r] = out[k];
    }
    for (; t < n_tok; ++t) {
      const float* xs[1] = {xrow(t)};
      dot_float<L, 1>(wr, xs, w.cols, &y[t * y_stride + r]);
    }
  }
}
