// Runtime ISA dispatch for kernels::cpu. Each instruction-set tier (scalar, AVX2+FMA+F16C,
// AVX-512 F/BW/VL/VNNI) is one translation unit that fills a KernelTable of function pointers; the
// public ops pick the best tier the CPU supports once (cached with the feature probe). Tests and benchmarks
// can run any supported tier explicitly through the *_with functions.
//
// Determinism contract of every tile function: the value written for (row r, token t) depends only on the
// weight row and that token's activations, never on the other rows/tokens in the call or on the thread
// split. That is what makes matmul batch-invariant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/thread_pool.h"
#include "kernels/act_quant.h"
#include "kernels/matrix_view.h"

namespace specula::kernels::cpu {

enum class Isa { kScalar, kAvx2, kAvx512 };

// Computes y[t * y_stride + r] = dot(W row r, token t) for r in [r0, r1), t in [0, n_tok).
// act points at token 0's activations in the table's ActKind for this type; token t starts at
// act + t * act_stride bytes.
using TileFn = void (*)(const MatrixView& w, int64_t r0, int64_t r1, const void* act, size_t act_stride,
                        int64_t n_tok, float* y, int64_t y_stride);

inline constexpr size_t kMaxTypeId = 40;

struct KernelTable {
  Isa isa = Isa::kScalar;
  const char* name = "";
  std::array<TileFn, kMaxTypeId> tile{};   // by ggml type id; null = type not supported by this tier
  std::array<ActKind, kMaxTypeId> act{};   // activation format the tile function expects
  void (*quantize_act32)(const float* x, int64_t n, ActBlock32* out) = nullptr;
  void (*quantize_act256)(const float* x, int64_t n, ActBlock256* out) = nullptr;
  void (*f16_to_f32)(const uint16_t* x, int64_t n, float* out) = nullptr;
  void (*bf16_to_f32)(const uint16_t* x, int64_t n, float* out) = nullptr;
  // One row of width n; see ops.h for the contracts (out may alias x).
  void (*rms_norm_row)(const float* x, const float* weight, int64_t n, float eps, float* out) = nullptr;
  void (*softmax_row)(float* x, int64_t n) = nullptr;
  void (*gelu_tanh)(const float* x, int64_t n, float* out) = nullptr;
  void (*silu)(const float* x, int64_t n, float* out) = nullptr;
  void (*gelu_tanh_mul)(const float* gate, const float* up, int64_t n, float* out) = nullptr;
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out) = nullptr;
};

// Tier tables (defined in isa_*.cpp). Only call one whose isa_supported() is true.
const KernelTable& scalar_table();
const KernelTable& avx2_table();
const KernelTable& avx512_table();

bool isa_supported(Isa isa);
const KernelTable& table_for(Isa isa);  // checked: isa must be supported
const KernelTable& best_table();        // the tier the public ops use

// The public ops with an explicit tier (the public ones call these with best_table()).
void matmul_with(const KernelTable& k, ThreadPool& pool, const MatrixView& w, const float* x, int64_t n_tokens,
                 float* y);
void get_rows_with(const KernelTable& k, ThreadPool& pool, const MatrixView& table, std::span<const int32_t> ids,
                   float* out);

}  // namespace specula::kernels::cpu
