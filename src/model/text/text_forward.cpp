// TextModel::forward: the decoder stack of gemma4-spec.md §1.7 (and the llama / Gemma 3 variants).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "model/common/vec.h"
#include "model/text/moe.h"
#include "model/text/rope.h"
#include "model/text/text_model.h"

namespace specula::model {
namespace ops = kernels::cpu;

// Activation buffers for one forward call, row-major [n_rows, width].
struct TextModel::Scratch {
  explicit Scratch(const TextConfig& c, size_t n) : n_rows(n) {
    const size_t h = static_cast<size_t>(c.hidden);
    const size_t qw = static_cast<size_t>(c.n_heads) * static_cast<size_t>(c.max_head_dim());
    const size_t f = static_cast<size_t>(std::max({c.max_ffn_dim(), c.ple_dim, 2 * c.expert_ffn_dim, 1}));
    const size_t lp = static_cast<size_t>(c.n_layers) * static_cast<size_t>(c.ple_dim);
    x.resize(n * h);
    xn.resize(n * h);
    tmp.resize(n * h);
    q.resize(n * qw);
    k.resize(n * qw);
    v.resize(n * qw);
    attn.resize(n * qw);
    gate.resize(n * f);
    up.resize(n * f);
    ple.resize(n * lp);
    ple_tmp.resize(n * lp);
  }
  size_t n_rows;
  AlignedVector<float> x, xn, tmp, q, k, v, attn, gate, up, ple, ple_tmp;
  std::vector<int32_t> positions;
  std::vector<kv::AttnQuery> queries;
  std::vector<kv::KvRowRef> kv_rows;
  std::vector<int32_t> block_ends;  // bidirectional models: per row its image block's end, -1 (TextModel::image_blocks)
};

namespace {



// Token embeddings (scaled) or caller-provided embedding rows (unscaled), into s.x.
void embed(ThreadPool& pool, const TextConfig& c, const TextWeights& w, std::span<const ForwardRow> rows,
           AlignedVector<float>& x) {
  const size_t h = static_cast<size_t>(c.hidden);
  std::vector<int32_t> ids(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) ids[r] = rows[r].embedding ? 0 : rows[r].token;
  ops::get_rows(pool, w.token_embd, ids, x.data());
  for (size_t r = 0; r < rows.size(); ++r) {
    float* row = x.data() + r * h;
    if (rows[r].embedding != nullptr) {
      std::memcpy(row, rows[r].embedding, h * sizeof(float));
    } else {
      scale_inplace(row, c.embed_scale, h);
    }
  }
}

// Per-layer inputs of gemma4-spec.md §1.6: ple[r, layer, :] = (norm(ctx) + tok) * 2^-0.5.
void per_layer_inputs(ThreadPool& pool, const TextConfig& c, const TextWeights& w, std::span<const ForwardRow> rows,
                      const float* x, float* ple, float* tmp) {
  const size_t n = rows.size();
  const size_t width = static_cast<size_t>(c.n_layers) * static_cast<size_t>(c.ple_dim);
  std::vector<int32_t> ids(n);
  for (size_t r = 0; r < n; ++r) ids[r] = rows[r].token;
  ops::get_rows(pool, w.ple_token_embd, ids, tmp);
  scale_inplace(tmp, std::sqrt(static_cast<float>(c.ple_dim)), n * width);
  ops::matmul(pool, w.ple_model_proj, x, static_cast<int64_t>(n), ple);
  scale_inplace(ple, 1.0f / std::sqrt(static_cast<float>(c.hidden)), n * width);
  ops::rms_norm(pool, ple, w.ple_proj_norm.data(), static_cast<int64_t>(n) * c.n_layers, c.ple_dim, c.rms_eps, ple);
  const float inv_sqrt2 = 1.0f / std::sqrt(2.0f);
  for (size_t i = 0; i < n * width; ++i) ple[i] = (ple[i] + tmp[i]) * inv_sqrt2;
}

void apply_rope(const TextConfig& c, const LayerSpec& l, const TextWeights& w, float* x, size_t n, int n_heads,
                const std::vector<int32_t>& pos) {
  const float* factors = (l.rope_freq_factors && !w.rope_freqs.empty()) ? w.rope_freqs.data() : nullptr;
  if (c.rope_style == RopeStyle::kNeox) {
    ops::rope_neox(x, static_cast<int64_t>(n), n_heads, l.head_dim, l.n_rot, pos, l.rope_theta, factors);
  } else {
    rope_interleaved(x, n, n_heads, l.head_dim, l.n_rot, pos, l.rope_theta);
  }
}

}  // namespace

// Attention sub-block: x += post_norm(o_proj(attn(norm(x)))) for layer i.
static void attention_block(ThreadPool& pool, const TextConfig& c, const TextWeights& w, int i,
                            std::span<const ForwardRow> rows, kv::KvCache& cache, TextModel::Scratch& s) {
  const LayerSpec& l = c.layers[static_cast<size_t>(i)];
  const LayerWeights& lw = w.layers[static_cast<size_t>(i)];
  const size_t n = rows.size();
  const size_t h = static_cast<size_t>(c.hidden);
  const int64_t nn = static_cast<int64_t>(n);
  const bool gemma = c.arch != TextArch::kLlama;
  ops::rms_norm(pool, s.x.data(), lw.attn_norm.data(), nn, c.hidden, c.rms_eps, s.xn.data());
  ops::matmul(pool, lw.wq, s.xn.data(), nn, s.q.data());
  if (gemma) ops::rms_norm(pool, s.q.data(), lw.q_norm.data(), nn * c.n_heads, l.head_dim, c.rms_eps, s.q.data());
  apply_rope(c, l, w, s.q.data(), n, c.n_heads, s.positions);
  if (l.owns_kv()) {
    const size_t kvw = static_cast<size_t>(l.n_kv_heads) * static_cast<size_t>(l.head_dim);
    ops::matmul(pool, lw.wk, s.xn.data(), nn, s.k.data());
    if (lw.wv.data != nullptr) {
      ops::matmul(pool, lw.wv, s.xn.data(), nn, s.v.data());
    } else {
      std::memcpy(s.v.data(), s.k.data(), n * kvw * sizeof(float));  // attention_k_eq_v: V from the raw K projection
    }
    if (gemma) ops::rms_norm(pool, s.k.data(), lw.k_norm.data(), nn * l.n_kv_heads, l.head_dim, c.rms_eps, s.k.data());
    if (c.arch == TextArch::kGemma4) {
      ops::rms_norm(pool, s.v.data(), nullptr, nn * l.n_kv_heads, l.head_dim, c.rms_eps, s.v.data());
    }
    apply_rope(c, l, w, s.k.data(), n, l.n_kv_heads, s.positions);
    cache.write(pool, l.kv_slot, s.kv_rows, s.k.data(), s.v.data());
  }
  // Visible keys: [pos - W + 1, pos] on sliding layers, [0, pos] on full ones. Bidirectional image blocks
  // (§1.12) extend a sliding-layer soft-token row to the end of its block: allowed(q, kv) = kv > q - W and
  // (kv <= q or same block) is the contiguous range [q - W + 1, max(q, block_end)]. The later rows of the
  // block are in this batch (image_blocks) and their K/V were written above, before any attention.
  const bool bidir = l.sliding && !s.block_ends.empty();
  for (size_t r = 0; r < n; ++r) {
    const int first = l.sliding ? std::max(0, rows[r].pos - c.sliding_window + 1) : 0;
    const int last = bidir ? std::max(rows[r].pos, s.block_ends[r]) : rows[r].pos;
    s.queries[r] = kv::AttnQuery{rows[r].seq, first, last};
  }
  const int slot = c.layers[static_cast<size_t>(l.kv_source)].kv_slot;
  kv::attention(pool, cache, slot, c.n_heads, s.queries, s.q.data(), c.attn_scale, s.attn.data());
  ops::matmul(pool, lw.wo, s.attn.data(), nn, s.tmp.data());
  if (gemma) ops::rms_norm(pool, s.tmp.data(), lw.post_attn_norm.data(), nn, c.hidden, c.rms_eps, s.tmp.data());
  add_inplace(s.x.data(), s.tmp.data(), n * h);
}

// Feed-forward sub-block (dense MLP, plus the MoE branch when present).
static void ffn_block(ThreadPool& pool, const TextConfig& c, const TextWeights& w, int i, size_t n,
                      TextModel::Scratch& s) {
  const LayerSpec& l = c.layers[static_cast<size_t>(i)];
  const LayerWeights& lw = w.layers[static_cast<size_t>(i)];
  const size_t h = static_cast<size_t>(c.hidden);
  const int64_t nn = static_cast<int64_t>(n);
  const bool gemma = c.arch != TextArch::kLlama;
  ops::rms_norm(pool, s.x.data(), lw.ffn_norm.data(), nn, c.hidden, c.rms_eps, s.xn.data());
  ops::matmul(pool, lw.ffn_gate, s.xn.data(), nn, s.gate.data());
  ops::matmul(pool, lw.ffn_up, s.xn.data(), nn, s.up.data());
  const size_t fw = n * static_cast<size_t>(l.ffn_dim);
  if (gemma) {
    ops::gelu_tanh_mul(s.gate.data(), s.up.data(), static_cast<int64_t>(fw), s.gate.data());
  } else {
    ops::silu_mul(s.gate.data(), s.up.data(), static_cast<int64_t>(fw), s.gate.data());
  }
  ops::matmul(pool, lw.ffn_down, s.gate.data(), nn, s.tmp.data());
  if (lw.has_moe) {
    ops::rms_norm(pool, s.tmp.data(), lw.moe.post_norm_1.data(), nn, c.hidden, c.rms_eps, s.tmp.data());
    moe_forward(pool, c, lw.moe, s.x.data(), n, s.xn.data());  // xn := MoE output (reads the pre-norm residual)
    ops::rms_norm(pool, s.xn.data(), lw.moe.post_norm_2.data(), nn, c.hidden, c.rms_eps, s.xn.data());
    add_inplace(s.tmp.data(), s.xn.data(), n * h);
  }
  if (gemma) ops::rms_norm(pool, s.tmp.data(), lw.post_ffn_norm.data(), nn, c.hidden, c.rms_eps, s.tmp.data());
  add_inplace(s.x.data(), s.tmp.data(), n * h);
}

// Per-layer-input block of gemma4-spec.md §1.6 (inside layer i, after the FFN residual).
static void ple_block(ThreadPool& pool, const TextConfig& c, const TextWeights& w, int i, size_t n,
                      TextModel::Scratch& s) {
  const LayerWeights& lw = w.layers[static_cast<size_t>(i)];
  const size_t p = static_cast<size_t>(c.ple_dim);
  const size_t lp = static_cast<size_t>(c.n_layers) * p;
  const int64_t nn = static_cast<int64_t>(n);
  ops::matmul(pool, lw.ple_gate, s.x.data(), nn, s.gate.data());  // [n, P]
  ops::gelu_tanh(s.gate.data(), nn * c.ple_dim, s.gate.data());
  for (size_t r = 0; r < n; ++r) {
    const float* ple = s.ple.data() + r * lp + static_cast<size_t>(i) * p;
    for (size_t j = 0; j < p; ++j) s.gate[r * p + j] *= ple[j];
  }
  ops::matmul(pool, lw.ple_proj, s.gate.data(), nn, s.tmp.data());
  ops::rms_norm(pool, s.tmp.data(), lw.ple_post_norm.data(), nn, c.hidden, c.rms_eps, s.tmp.data());
  add_inplace(s.x.data(), s.tmp.data(), n * static_cast<size_t>(c.hidden));
}

Status TextModel::forward(ThreadPool& pool, kv::KvCache& cache, std::span<const ForwardRow> rows,
                          const ForwardOutput& out) {
  SPECULA_RETURN_IF_ERROR(check_rows(cache, rows));
  for (const int32_t r : out.logit_rows) {
    if (r < 0 || static_cast<size_t>(r) >= rows.size()) {
      return make_error(ErrorCode::kInvalidArgument, "logit row {} is outside the batch of {}", r, rows.size());
    }
  }
  if (rows.empty()) return ok_status();
  const TextConfig& c = config_;
  const size_t n = rows.size();
  const size_t h = static_cast<size_t>(c.hidden);
  Scratch s(c, n);
  s.positions.resize(n);
  s.queries.resize(n);
  for (size_t r = 0; r < n; ++r) s.positions[r] = rows[r].pos;
  for (const ForwardRow& row : rows) s.kv_rows.push_back({row.seq, row.pos});
  if (c.bidirectional_images) {
    SPECULA_TRY(s.block_ends, image_blocks(rows));
  }
  SPECULA_RETURN_IF_ERROR(cache.begin_batch(s.kv_rows));

  embed(pool, c, weights_, rows, s.x);
  if (c.ple_dim > 0) per_layer_inputs(pool, c, weights_, rows, s.x.data(), s.ple.data(), s.ple_tmp.data());
  for (int i = 0; i < c.n_layers; ++i) {
    attention_block(pool, c, weights_, i, rows, cache, s);
    ffn_block(pool, c, weights_, i, n, s);
    if (c.ple_dim > 0) ple_block(pool, c, weights_, i, n, s);
    const float scale = weights_.layers[static_cast<size_t>(i)].output_scale;
    if (scale != 1.0f) scale_inplace(s.x.data(), scale, n * h);
  }

  const size_t n_out = out.logit_rows.size();
  if (n_out == 0) return ok_status();
  for (size_t j = 0; j < n_out; ++j) {
    std::memcpy(s.tmp.data() + j * h, s.x.data() + static_cast<size_t>(out.logit_rows[j]) * h, h * sizeof(float));
  }
  ops::rms_norm(pool, s.tmp.data(), weights_.output_norm.data(), static_cast<int64_t>(n_out), c.hidden, c.rms_eps,
                s.xn.data());
  if (out.hidden != nullptr) std::memcpy(out.hidden, s.xn.data(), n_out * h * sizeof(float));
  if (out.logits != nullptr) {
    ops::matmul(pool, weights_.output, s.xn.data(), static_cast<int64_t>(n_out), out.logits);
    if (c.final_softcap > 0) {
      const size_t total = n_out * static_cast<size_t>(c.vocab);
      const float cap = c.final_softcap;
      for (size_t i = 0; i < total; ++i) out.logits[i] = cap * std::tanh(out.logits[i] / cap);
    }
  }
  return ok_status();
}

}  // namespace specula::model
