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
#include <optional>
#include <span>
#include <string_view>

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

// How the CPU matmuls treat their float32 activations (process-wide: set it before work starts, never while
// a matmul runs; every mode is batch-invariant and independent of the thread count).
enum class ActPrecision {
  // One int8 block quantization per token (llama.cpp's scheme): the fastest. On models with large activation
  // outliers (Gemma) the rounding is coarse enough that any small upstream perturbation (a KV cache type)
  // flips roundings downstream: Gemma 3 270M shows a mean KL of 0.006 between an f32 and an f16 cache.
  kInt8,
  // int8 plus a second int8 pass over the residual of the first rounding, both through the integer kernels:
  // the rounding error shrinks ~127x (the f32/f16 cache KL above drops to 0.00003) for about twice the
  // integer work (Gemma 3 270M on 2 cores: prefill 1.8x slower, decode 14%; MatrixView::int8_only keeps the
  // output projection, most of a decode step's bytes, at one pass).
  kInt8x2,
  // Dequantized weight rows times the float32 activations: several times slower; a measurement mode.
  kFloat,
};
void set_act_precision(ActPrecision p);
ActPrecision act_precision();
// "int8" | "int8x2" | "f32" -> ActPrecision; nullopt for anything else.
std::optional<ActPrecision> parse_act_precision(std::string_view name);
const char* act_precision_name(ActPrecision p);
inline constexpr const char* kActPrecisionHelp =
    "CPU matmul activations: int8 (fastest), int8x2 (int8 plus its rounding residual: ~127x less activation "
    "rounding, slower prefill), f32 (dequantized weights, slow; for measurements)";
}  // namespace cpu

}  // namespace specula::kernels
