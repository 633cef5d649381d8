// kernels::ref elementwise ops, norms, RoPE and top-k: textbook formulas in double precision.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "base/check.h"
#include "kernels/ops.h"

namespace specula::kernels::ref {
namespace {

// 0.5 x (1 + tanh(y)) == x / (1 + e^(-2y)); the second form avoids the cancellation in 1 + tanh(y) for
// y << 0 (at x = -6.4 the tanh form keeps only ~3 significant digits even in double).
double gelu_tanh_d(double x) {
  constexpr double kSqrt2OverPi = 0.79788456080286535588;
  const double y = kSqrt2OverPi * (x + 0.044715 * x * x * x);
  return x / (1.0 + std::exp(-2.0 * y));
}
double silu_d(double x) { return x / (1.0 + std::exp(-x)); }

}  // namespace

void rms_norm(ThreadPool& /*pool*/, const float* x, const float* weight, int64_t n_rows, int64_t n, float eps,
              float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * n;
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * static_cast<double>(xr[i]);
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps));
    for (int64_t i = 0; i < n; ++i) {
      const double wi = weight != nullptr ? static_cast<double>(weight[i]) : 1.0;
      out[r * n + i] = static_cast<float>(static_cast<double>(xr[i]) * scale * wi);
    }
  }
}

void softmax(float* x, int64_t n_rows, int64_t n) {
  for (int64_t r = 0; r < n_rows; ++r) {
    float* xr = x + r * n;
    double m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(xr[i]));
    std::vector<double> e(static_cast<size_t>(n));
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      e[static_cast<size_t>(i)] = std::exp(static_cast<double>(xr[i]) - m);
      sum += e[static_cast<size_t>(i)];
    }
    for (int64_t i = 0; i < n; ++i) xr[i] = static_cast<float>(e[static_cast<size_t>(i)] / sum);
  }
}

void gelu_tanh(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(gelu_tanh_d(static_cast<double>(x[i])));
}

void silu(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(silu_d(static_cast<double>(x[i])));
}

void gelu_tanh_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(gelu_tanh_d(static_cast<double>(gate[i])) * static_cast<double>(up[i]));
  }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(silu_d(static_cast<double>(gate[i])) * static_cast<double>(up[i]));
  }
}

void rope_neox(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t n_rot,
               std::span<const int32_t> positions, double theta, const float* freq_factors) {
  SPECULA_CHECK(n_rot % 2 == 0 && n_rot <= head_dim, "rope: bad n_rot {}", n_rot);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t j = 0; j < n_rot / 2; ++j) {
        const double ff = freq_factors != nullptr ? static_cast<double>(freq_factors[j]) : 1.0;
        const double angle = static_cast<double>(positions[static_cast<size_t>(t)]) *
                             std::pow(theta, -2.0 * static_cast<double>(j) / static_cast<double>(n_rot)) / ff;
        const double c = static_cast<float>(std::cos(angle));  // rounded to float once (contract)
        const double s = static_cast<float>(std::sin(angle));
        const double x0 = v[j], x1 = v[j + head_dim / 2];
        v[j] = static_cast<float>(x0 * c - x1 * s);
        v[j + head_dim / 2] = static_cast<float>(x0 * s + x1 * c);
      }
    }
  }
}

void top_k(const float* x, int64_t n, int64_t k, int32_t* indices) {
  SPECULA_CHECK(k >= 0 && k <= n, "top_k: bad k {}", k);
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [x](int32_t a, int32_t b) { return x[a] > x[b]; });
  std::copy(idx.begin(), idx.begin() + k, indices);
}

}  // namespace specula::kernels::ref
