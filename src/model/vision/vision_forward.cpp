// The vision encoder forward pass (gemma4-spec.md §2.3-2.5), float32 on the CPU kernels. Only valid patches
// are computed: padding rows of the reference are masked keys there and zero rows in the pooler, so leaving
// them out gives the same valid rows.
#include <algorithm>
#include <cmath>

#include "kernels/ops.h"
#include "model/vision/vision_model.h"

namespace specula::model {
namespace {

namespace ops = kernels::cpu;

// y[n, w.rows] = clamp(clamp(x, in) @ W^T, out). x is [n, w.cols] and is not modified.
void clip_matmul(ThreadPool& pool, const ClipLinear& l, const float* x, int64_t n, float* y, std::vector<float>& tmp) {
  const size_t nx = static_cast<size_t>(n * l.w.cols);
  tmp.assign(x, x + nx);
  for (float& v : tmp) v = std::clamp(v, l.in_min, l.in_max);
  ops::matmul(pool, l.w, tmp.data(), n, y);
  const size_t ny = static_cast<size_t>(n * l.w.rows);
  for (size_t i = 0; i < ny; ++i) y[i] = std::clamp(y[i], l.out_min, l.out_max);
}

// 2-D axial RoPE in place on x [n, heads, hd]: the first half of each head rotates by the patch's x angles,
// the second half by its y angles; within a half, pairs (j, j + hd/4). Angles in float32 as the reference.
void rope_2d(float* x, int64_t n, int64_t heads, int64_t hd, std::span<const int32_t> pos, double theta) {
  const int64_t quarter = hd / 4, half = hd / 2;
  std::vector<float> inv(static_cast<size_t>(quarter));
  for (int64_t j = 0; j < quarter; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(half);
    inv[static_cast<size_t>(j)] = 1.0f / std::pow(static_cast<float>(theta), e);
  }
  for (int64_t t = 0; t < n; ++t) {
    for (int axis = 0; axis < 2; ++axis) {
      const float p = static_cast<float>(pos[static_cast<size_t>(2 * t + axis)]);
      for (int64_t j = 0; j < quarter; ++j) {
        const float a = p * inv[static_cast<size_t>(j)];
        const float c = std::cos(a), s = std::sin(a);
        for (int64_t h = 0; h < heads; ++h) {
          float* v = x + (t * heads + h) * hd + axis * half;
          const float x0 = v[j], x1 = v[j + quarter];
          v[j] = x0 * c - x1 * s;
          v[j + quarter] = x1 * c + x0 * s;
        }
      }
    }
  }
}

// Bidirectional attention, scale 1.0: out[t, h, :] = softmax_k(q[t,h]·k[k,h]) · v[k,h] over all n patches.
// K is transposed per head ([heads, hd, n]) so that the score loop runs over contiguous keys and vectorizes
// without reordering any sum (each score still accumulates d = 0..hd-1 in order).
void attention(ThreadPool& pool, const float* q, const float* k, const float* v, int64_t n, int64_t heads, int64_t hd,
               float* out) {
  std::vector<float> kt(static_cast<size_t>(heads * hd * n));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t d = 0; d < hd; ++d) kt[static_cast<size_t>((h * hd + d) * n + j)] = k[(j * heads + h) * hd + d];
    }
  }
  pool.parallel_for(static_cast<size_t>(n * heads), [&](size_t begin, size_t end) {
    std::vector<float> s(static_cast<size_t>(n));
    std::vector<float> acc(static_cast<size_t>(hd));
    for (size_t i = begin; i < end; ++i) {
      const int64_t t = static_cast<int64_t>(i) / heads, h = static_cast<int64_t>(i) % heads;
      const float* qv = q + (t * heads + h) * hd;
      std::fill(s.begin(), s.end(), 0.0f);
      for (int64_t d = 0; d < hd; ++d) {
        const float qd = qv[d];
        const float* kd = kt.data() + (h * hd + d) * n;
        for (int64_t j = 0; j < n; ++j) s[static_cast<size_t>(j)] += qd * kd[j];
      }
      ops::softmax(s.data(), 1, n);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < n; ++j) {
        const float p = s[static_cast<size_t>(j)];
        const float* vv = v + (j * heads + h) * hd;
        for (int64_t d = 0; d < hd; ++d) acc[static_cast<size_t>(d)] += p * vv[d];
      }
      std::copy(acc.begin(), acc.end(), out + (t * heads + h) * hd);
    }
  });
}

struct Buffers {
  std::vector<float> a, q, k, v, att, o, gate, up, tmp;
};

void encoder_layer(ThreadPool& pool, const VisionConfig& c, const VisionLayer& l, std::span<const int32_t> pos,
                   int64_t n, std::vector<float>& h, Buffers& b) {
  const int64_t d = c.hidden, hd = c.head_dim, nh = c.n_heads, ff = c.intermediate;
  const size_t nd = static_cast<size_t>(n * d);
  b.a.resize(nd), b.q.resize(nd), b.k.resize(nd), b.v.resize(nd), b.att.resize(nd), b.o.resize(nd);
  ops::rms_norm(pool, h.data(), l.ln1.data(), n, d, c.eps, b.a.data());
  clip_matmul(pool, l.q, b.a.data(), n, b.q.data(), b.tmp);
  clip_matmul(pool, l.k, b.a.data(), n, b.k.data(), b.tmp);
  clip_matmul(pool, l.v, b.a.data(), n, b.v.data(), b.tmp);
  ops::rms_norm(pool, b.q.data(), l.q_norm.data(), n * nh, hd, c.eps, b.q.data());
  ops::rms_norm(pool, b.k.data(), l.k_norm.data(), n * nh, hd, c.eps, b.k.data());
  ops::rms_norm(pool, b.v.data(), nullptr, n * nh, hd, c.eps, b.v.data());
  rope_2d(b.q.data(), n, nh, hd, pos, c.rope_theta);
  rope_2d(b.k.data(), n, nh, hd, pos, c.rope_theta);
  attention(pool, b.q.data(), b.k.data(), b.v.data(), n, nh, hd, b.att.data());
  clip_matmul(pool, l.o, b.att.data(), n, b.o.data(), b.tmp);
  ops::rms_norm(pool, b.o.data(), l.attn_post_norm.data(), n, d, c.eps, b.o.data());
  for (size_t i = 0; i < nd; ++i) h[i] += b.o[i];

  const size_t nf = static_cast<size_t>(n * ff);
  b.gate.resize(nf), b.up.resize(nf);
  ops::rms_norm(pool, h.data(), l.ln2.data(), n, d, c.eps, b.a.data());
  clip_matmul(pool, l.gate, b.a.data(), n, b.gate.data(), b.tmp);
  clip_matmul(pool, l.up, b.a.data(), n, b.up.data(), b.tmp);
  ops::gelu_tanh_mul(b.gate.data(), b.up.data(), static_cast<int64_t>(nf), b.gate.data());
  clip_matmul(pool, l.down, b.gate.data(), n, b.o.data(), b.tmp);
  ops::rms_norm(pool, b.o.data(), l.ffn_post_norm.data(), n, d, c.eps, b.o.data());
  for (size_t i = 0; i < nd; ++i) h[i] += b.o[i];
}

// Checks that positions form a complete grid (each cell once) whose sides are multiples of k; returns (width, height).
Result<std::pair<int64_t, int64_t>> grid_of(std::span<const int32_t> pos, int64_t n, int64_t k, int64_t n_positions) {
  int64_t w = 0, hgt = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int32_t x = pos[static_cast<size_t>(2 * t)], y = pos[static_cast<size_t>(2 * t + 1)];
    if (x < 0 || y < 0 || x >= n_positions || y >= n_positions) {
      return make_error(ErrorCode::kInvalidArgument, "patch {} has position ({}, {}) outside the table of {} positions",
                        t, x, y, n_positions);
    }
    w = std::max<int64_t>(w, x + 1);
    hgt = std::max<int64_t>(hgt, y + 1);
  }
  std::vector<bool> seen(static_cast<size_t>(w * hgt), false);
  bool complete = w * hgt == n && w % k == 0 && hgt % k == 0;
  for (int64_t t = 0; complete && t < n; ++t) {
    const auto cell = static_cast<size_t>(pos[static_cast<size_t>(2 * t + 1)] * w + pos[static_cast<size_t>(2 * t)]);
    complete = !seen[cell];
    seen[cell] = true;
  }
  if (!complete) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the {} patches do not form a complete grid with sides divisible by {} ({}x{})", n, k, w, hgt);
  }
  return std::pair{w, hgt};
}

}  // namespace

Result<VisionOutput> VisionModel::encode(ThreadPool& pool, std::span<const float> pixels,
                                         std::span<const int32_t> positions) const {
  const VisionConfig& c = config_;
  const int64_t pd = c.patch_dim(), d = c.hidden, k = c.pooling_kernel;
  if (pixels.empty() || pixels.size() % static_cast<size_t>(pd) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "pixel values: {} floats is not a whole number of {}-value patches",
                      pixels.size(), pd);
  }
  const int64_t n = static_cast<int64_t>(pixels.size()) / pd;
  if (positions.size() != static_cast<size_t>(2 * n)) {
    return make_error(ErrorCode::kInvalidArgument, "{} patches need {} position values, got {}", n, 2 * n, positions.size());
  }
  SPECULA_TRY(const auto grid, grid_of(positions, n, k, c.n_positions));

  // Patch embedding: 2(x - 0.5) @ W^T + table_x[x] + table_y[y].
  std::vector<float> px(pixels.begin(), pixels.end());
  for (float& v : px) v = 2.0f * (v - 0.5f);
  std::vector<float> h(static_cast<size_t>(n * d)), ex(static_cast<size_t>(n * d)), ey(static_cast<size_t>(n * d));
  ops::matmul(pool, patch_view_, px.data(), n, h.data());
  std::vector<int32_t> xs(static_cast<size_t>(n)), ys(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    xs[static_cast<size_t>(t)] = positions[static_cast<size_t>(2 * t)];
    ys[static_cast<size_t>(t)] = positions[static_cast<size_t>(2 * t + 1)];
  }
  ops::get_rows(pool, pos_x_, xs, ex.data());
  ops::get_rows(pool, pos_y_, ys, ey.data());
  for (size_t i = 0; i < h.size(); ++i) h[i] += ex[i] + ey[i];

  Buffers b;
  for (const VisionLayer& l : layers_) encoder_layer(pool, c, l, positions, n, h, b);

  // 3x3 average by position, x sqrt(D) in float32, optional standardization.
  const int64_t pw = grid.first / k;
  VisionOutput out;
  out.n_tokens = n / (k * k);
  out.pooled.assign(static_cast<size_t>(out.n_tokens * d), 0.0f);
  const float inv_area = 1.0f / static_cast<float>(k * k);
  for (int64_t t = 0; t < n; ++t) {
    const int64_t cell = xs[static_cast<size_t>(t)] / k + pw * (ys[static_cast<size_t>(t)] / k);
    float* dst = out.pooled.data() + cell * d;
    const float* src = h.data() + t * d;
    for (int64_t j = 0; j < d; ++j) dst[j] += src[j] * inv_area;
  }
  const float scale = static_cast<float>(std::sqrt(static_cast<double>(d)));
  for (float& v : out.pooled) v *= scale;
  std::vector<float> soft = out.pooled;
  if (c.standardize) {
    for (int64_t t = 0; t < out.n_tokens; ++t) {
      for (int64_t j = 0; j < d; ++j) {
        float& v = soft[static_cast<size_t>(t * d + j)];
        v = (v - std_bias_[static_cast<size_t>(j)]) * std_scale_[static_cast<size_t>(j)];
      }
    }
  }
  ops::rms_norm(pool, soft.data(), nullptr, out.n_tokens, d, 1e-6f, soft.data());
  out.embeds.resize(static_cast<size_t>(out.n_tokens * c.text_hidden));
  ops::matmul(pool, proj_, soft.data(), out.n_tokens, out.embeds.data());
  return out;
}

}  // namespace specula::model
