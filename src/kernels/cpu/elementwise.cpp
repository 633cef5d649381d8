// kernels::cpu elementwise ops, norms, RoPE and top-k. The per-row SIMD kernels come from the active
// KernelTable; rows are independent, so splitting them over threads never changes a result.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/ops.h"

namespace specula::kernels::cpu {
namespace {

// Rows x width below which a pool dispatch costs more than it saves.
constexpr int64_t kParallelRowsMin = 1 << 14;

}  // namespace

void rms_norm(ThreadPool& pool, const float* x, const float* weight, int64_t n_rows, int64_t n, float eps,
              float* out) {
  const KernelTable& k = best_table();
  auto rows = [&](size_t b, size_t e) {
    for (size_t r = b; r < e; ++r) {
      const auto off = static_cast<int64_t>(r) * n;
      k.rms_norm_row(x + off, weight, n, eps, out + off);
    }
  };
  if (n_rows > 1 && n_rows * n >= kParallelRowsMin) {
    pool.parallel_for(static_cast<size_t>(n_rows), rows);
  } else {
    rows(0, static_cast<size_t>(n_rows));
  }
}

void softmax(float* x, int64_t n_rows, int64_t n) {
  const KernelTable& k = best_table();
  for (int64_t r = 0; r < n_rows; ++r) k.softmax_row(x + r * n, n);
}

void gelu_tanh(const float* x, int64_t n, float* out) { best_table().gelu_tanh(x, n, out); }
void silu(const float* x, int64_t n, float* out) { best_table().silu(x, n, out); }
void gelu_tanh_mul(const float* gate, const float* up, int64_t n, float* out) {
  best_table().gelu_tanh_mul(gate, up, n, out);
}
void silu_mul(const float* gate, const float* up, int64_t n, float* out) { best_table().silu_mul(gate, up, n, out); }

void rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
               std::span<const int32_t> positions, double theta, const float* freq_factors) {
  SPECULA_CHECK(n_rot % 2 == 0 && n_rot <= head_dim, "rope: n_rot {} must be even and <= head_dim {}", n_rot,
                head_dim);
  SPECULA_CHECK(static_cast<int64_t>(positions.size()) >= n_tokens, "rope: {} positions for {} tokens",
                positions.size(), n_tokens);
  const int64_t half = n_rot / 2;
  const int64_t half_dim = head_dim / 2;
  // Frequencies once per call; cos/sin once per (token, pair), shared by all heads. The angle is
  // pos * theta^(-2j/n_rot) / factor in exactly this order (the ref op's), so both round the same doubles.
  std::vector<double> base(static_cast<size_t>(half)), factor(static_cast<size_t>(half));
  for (int64_t j = 0; j < half; ++j) {
    base[static_cast<size_t>(j)] = std::pow(theta, -2.0 * static_cast<double>(j) / static_cast<double>(n_rot));
    factor[static_cast<size_t>(j)] = freq_factors != nullptr ? static_cast<double>(freq_factors[j]) : 1.0;
  }
  std::vector<float> cs(static_cast<size_t>(2 * half));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const double pos = static_cast<double>(positions[static_cast<size_t>(t)]);
    for (int64_t j = 0; j < half; ++j) {
      const double a = pos * base[static_cast<size_t>(j)] / factor[static_cast<size_t>(j)];
      cs[static_cast<size_t>(2 * j)] = static_cast<float>(std::cos(a));
      cs[static_cast<size_t>(2 * j + 1)] = static_cast<float>(std::sin(a));
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float c = cs[static_cast<size_t>(2 * j)], s = cs[static_cast<size_t>(2 * j + 1)];
        const float x0 = v[j], x1 = v[j + half_dim];
        v[j] = x0 * c - x1 * s;
        v[j + half_dim] = x0 * s + x1 * c;
      }
    }
  }
}

void top_k(const float* x, int64_t n, int64_t k, int32_t* indices) {
  SPECULA_CHECK(k >= 0 && k <= n, "top_k: k {} out of range for n {}", k, n);
  if (k == 0) return;
  // One pass with a heap of the k best so far, worst on top. Scanning in index order, a later element with
  // an equal value ranks below every kept one, so only a strictly greater value enters: for a vocabulary
  // of 262k almost every element costs one comparison.
  auto better = [x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  std::vector<int32_t> heap(static_cast<size_t>(k));
  std::iota(heap.begin(), heap.end(), 0);
  std::make_heap(heap.begin(), heap.end(), better);  // heap.front() is the worst kept index
  for (int64_t i = k; i < n; ++i) {
    if (x[i] > x[heap.front()]) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = static_cast<int32_t>(i);
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  std::copy(heap.begin(), heap.end(), indices);
}

}  // namespace specula::kernels::cpu
