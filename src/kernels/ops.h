// The CPU operator set used by the models. Two implementations share these signatures:
//   kernels::ref  — scalar oracle: obvious code, double accumulation, no threads (kernels/ref/)
//   kernels::cpu  — SIMD (AVX2 baseline, AVX-512 when present, runtime dispatch) + ThreadPool (kernels/cpu/)
// Every cpu op has a randomized test against its ref twin with a tolerance derived from the reduction length.
//
// Layout conventions: activations are row-major float32 [n_tokens, width]. All ops are out-of-place
// unless stated; `out` may alias `x` where stated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/thread_pool.h"
#include "kernels/matrix_view.h"

namespace specula::kernels {

// Declares the op set once for both namespaces (ref ops ignore the pool).
#define SPECULA_KERNEL_OPS                                                                                        \
  /* y[t, r] = sum_c W[r, c] * x[t, c] for t < n_tokens, r < w.rows. x: [n_tokens, w.cols], y: [n_tokens,     \
     w.rows]. Batch-invariant: for n_tokens <= kDecodeBatchMax a token's row never depends on the others. */   \
  void matmul(ThreadPool& pool, const MatrixView& w, const float* x, int64_t n_tokens, float* y);              \
  /* out[t, :] = row ids[t] of the table, dequantized to float32 (embedding lookup). */                          \
  void get_rows(ThreadPool& pool, const MatrixView& table, std::span<const int32_t> ids, float* out);          \
  /* Per row of width n: out = x * (mean(x^2) + eps)^-0.5 * (weight ? weight : 1). out may alias x. */          \
  void rms_norm(ThreadPool& pool, const float* x, const float* weight, int64_t n_rows, int64_t n, float eps,    \
                float* out);                                                                                    \
  /* In-place softmax over each row of width n (max-subtracted). */                                             \
  void softmax(float* x, int64_t n_rows, int64_t n);                                                            \
  /* Elementwise, out may alias x: gelu_tanh(x) = 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))), silu = x*sigmoid. */ \
  void gelu_tanh(const float* x, int64_t n, float* out);                                                        \
  void silu(const float* x, int64_t n, float* out);                                                             \
  /* out = gelu_tanh(gate) * up or silu(gate) * up, elementwise over n. */                                      \
  void gelu_tanh_mul(const float* gate, const float* up, int64_t n, float* out);                                \
  void silu_mul(const float* gate, const float* up, int64_t n, float* out);                                     \
  /* NeoX-style RoPE in place on x: [n_tokens, n_heads, head_dim], pairs (j, j + head_dim/2), j < n_rot/2      \
     rotate by angle pos[t] * theta^(-2j/n_rot) / freq_factors[j] (factors may be null = 1); dims >= n_rot      \
     pass through. Angles are computed in double and rounded to float once. */                                 \
  void rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,                 \
                 std::span<const int32_t> positions, double theta, const float* freq_factors);                 \
  /* Indices of the k largest values of x[0..n) in descending order (ties: lower index first). */              \
  void top_k(const float* x, int64_t n, int64_t k, int32_t* indices);

inline constexpr int64_t kDecodeBatchMax = 64;

namespace ref {
SPECULA_KERNEL_OPS
}  // namespace ref

namespace cpu {
SPECULA_KERNEL_OPS

// Process-wide measurement mode: when on, matmul multiplies each dequantized weight row with the float32
// activations (float accumulation in 16 lanes, summed in double) instead of quantizing activations to int8
// blocks first. Several times slower; it removes activation rounding from quality measurements (specula kl
// --float-activations), where models with large activation outliers (Gemma) otherwise turn any small
// perturbation into flipped int8 roundings. Set it before starting work, not while a matmul runs.
void set_float_activations(bool on);
bool float_activations();
}  // namespace cpu

}  // namespace specula::kernels
