#include "model/text/moe.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/aligned.h"
#include "kernels/ops.h"

namespace specula::model {
namespace ops = kernels::cpu;

namespace {

// Rows [begin, begin + count) of a matrix view.
kernels::MatrixView row_slice(const kernels::MatrixView& m, int64_t begin, int64_t count) {
  kernels::MatrixView s = m;
  s.data = m.data + static_cast<size_t>(begin) * m.row_bytes;
  s.rows = count;
  return s;
}

// Router: probabilities of the top-k experts, renormalized and scaled per expert.
void route(ThreadPool& pool, const TextConfig& c, const MoeWeights& w, const float* residual, size_t n,
           std::vector<int32_t>& idx, std::vector<float>& weight) {
  const size_t h = static_cast<size_t>(c.hidden);
  const size_t e = static_cast<size_t>(c.n_experts);
  const size_t k = static_cast<size_t>(c.n_experts_used);
  AlignedVector<float> z(n * h), logits(n * e);
  ops::rms_norm(pool, residual, nullptr, static_cast<int64_t>(n), c.hidden, c.rms_eps, z.data());
  const float inv_sqrt_h = 1.0f / std::sqrt(static_cast<float>(c.hidden));
  for (size_t r = 0; r < n; ++r) {
    for (size_t j = 0; j < h; ++j) z[r * h + j] *= w.router_scale[j] * inv_sqrt_h;
  }
  ops::matmul(pool, w.router, z.data(), static_cast<int64_t>(n), logits.data());
  ops::softmax(logits.data(), static_cast<int64_t>(n), static_cast<int64_t>(e));
  idx.resize(n * k);
  weight.resize(n * k);
  for (size_t r = 0; r < n; ++r) {
    ops::top_k(logits.data() + r * e, static_cast<int64_t>(e), static_cast<int64_t>(k), idx.data() + r * k);
    float sum = 0.0f;
    for (size_t j = 0; j < k; ++j) sum += logits[r * e + static_cast<size_t>(idx[r * k + j])];
    for (size_t j = 0; j < k; ++j) {
      const int32_t ex = idx[r * k + j];
      weight[r * k + j] = logits[r * e + static_cast<size_t>(ex)] / sum * w.expert_scale[static_cast<size_t>(ex)];
    }
  }
}

}  // namespace

void moe_forward(ThreadPool& pool, const TextConfig& c, const MoeWeights& w, const float* residual, size_t n, float* out) {
  const size_t h = static_cast<size_t>(c.hidden);
  const int64_t f = c.expert_ffn_dim;
  const size_t k = static_cast<size_t>(c.n_experts_used);
  std::vector<int32_t> idx;
  std::vector<float> weight;
  route(pool, c, w, residual, n, idx, weight);
  AlignedVector<float> xe(n * h), gate(static_cast<size_t>(f)), up(static_cast<size_t>(f)), y(h);
  ops::rms_norm(pool, residual, w.pre_norm_2.data(), static_cast<int64_t>(n), c.hidden, c.rms_eps, xe.data());
  std::fill(out, out + n * h, 0.0f);
  for (size_t r = 0; r < n; ++r) {
    const float* x = xe.data() + r * h;
    for (size_t j = 0; j < k; ++j) {
      const int64_t ex = idx[r * k + j];
      if (w.fused()) {
        const kernels::MatrixView gu = w.gate_up.at(ex);
        ops::matmul(pool, row_slice(gu, 0, f), x, 1, gate.data());
        ops::matmul(pool, row_slice(gu, f, f), x, 1, up.data());
      } else {
        ops::matmul(pool, w.gate.at(ex), x, 1, gate.data());
        ops::matmul(pool, w.up.at(ex), x, 1, up.data());
      }
      ops::gelu_tanh_mul(gate.data(), up.data(), f, gate.data());
      ops::matmul(pool, w.down.at(ex), gate.data(), 1, y.data());
      const float wt = weight[r * k + j];
      for (size_t i = 0; i < h; ++i) out[r * h + i] += wt * y[i];
    }
  }
}

}  // namespace specula::model
