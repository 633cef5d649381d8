// MtpDrafter: loading, input checks and the draft-step forward of gemma4-spec.md §3.2.
#include "model/common/vec.h"
#include "model/mtp/mtp_drafter.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "kernels/ops.h"

namespace specula::model {
namespace ops = kernels::cpu;

// Activation buffers of one step call, row-major [n_rows, width].
struct MtpDrafter::Scratch {
  Scratch(const AssistantConfig& c, size_t n) {
    const size_t h = static_cast<size_t>(c.hidden);
    const size_t qw = static_cast<size_t>(c.n_heads) * static_cast<size_t>(c.max_head_dim());
    const size_t f = static_cast<size_t>(std::max(c.max_ffn_dim(), 1));
    x.resize(n * h);
    xn.resize(n * h);
    tmp.resize(n * h);
    q.resize(n * qw);
    attn.resize(n * qw);
    gate.resize(n * f);
    up.resize(n * f);
    positions.resize(n);
    queries.resize(n);
  }
  AlignedVector<float> x, xn, tmp, q, attn, gate, up;
  std::vector<int32_t> positions;
  std::vector<kv::AttnQuery> queries;
};

namespace {


// The one place the drafter reads the target's K/V (so that another cache can be swapped in): each row sees
// the visible committed entries of its sequence in the source layer's slot.
void attend_target_kv(ThreadPool& pool, const kv::KvCache& cache, int slot, int n_heads,
                      std::span<const kv::AttnQuery> queries, const float* q, float* out) {
  cache.attention(pool, slot, n_heads, queries, q, /*scale=*/1.0f, out);
}

// Visible entries of a drafter query (§3.3): full layers all kv_len committed entries, sliding layers the last
// W_a + 1 of them (one more than the target's own W-key window).
kv::AttnQuery visible_range(const DraftStepRow& row, bool sliding, int window) {
  const int last = row.kv_len - 1;
  const int first = sliding ? std::max(0, last - window) : 0;
  return kv::AttnQuery{row.seq, first, last};
}

}  // namespace

Result<std::unique_ptr<MtpDrafter>> MtpDrafter::load(const std::string& path, const TextModel& target) {
  SPECULA_TRY(format::GgufFile file, format::GgufFile::open(path));
  SPECULA_TRY(AssistantConfig config, read_assistant_config(file));
  std::unique_ptr<MtpDrafter> d(new MtpDrafter(std::move(file), std::move(config), target));
  SPECULA_TRY(d->weights_, bind_assistant_weights(d->file_, d->config_));
  const TextConfig& t = target.config();
  if (Status st = check_assistant_compatible(d->config_, t, target.vocab()); !st.ok()) {
    return Error(st.error().code(), path + ": " + st.error().message());
  }
  if (d->config_.uses(true)) d->slots_.sliding = t.layers[static_cast<size_t>(t.last_owner(true))].kv_slot;
  if (d->config_.uses(false)) d->slots_.full = t.layers[static_cast<size_t>(t.last_owner(false))].kv_slot;
  return d;
}

Status MtpDrafter::check_rows(const kv::KvCache& cache, TargetKvSlots slots, std::span<const DraftStepRow> rows,
                              bool check_tokens) const {
  for (const auto& l : config_.layers) {
    const int slot = l.sliding ? slots.sliding : slots.full;
    if (slot < 0 || cache.shape(slot).n_kv_heads != l.n_kv_heads || cache.shape(slot).head_dim != l.head_dim) {
      return make_error(ErrorCode::kInvalidArgument, "the {} K/V slot {} does not have the assistant's shape ({} x {})",
                        l.sliding ? "sliding" : "full", slot, l.n_kv_heads, l.head_dim);
    }
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const DraftStepRow& row = rows[r];
    if (row.seq < 0 || row.seq >= cache.n_seq()) {
      return make_error(ErrorCode::kInvalidArgument, "draft row {}: sequence {} is outside the cache", r, row.seq);
    }
    if (row.kv_len < 1 || row.kv_len > cache.n_ctx()) {
      return make_error(ErrorCode::kOutOfRange, "draft row {}: {} visible K/V entries for a context of {}", r, row.kv_len,
                        cache.n_ctx());
    }
    if (check_tokens && (row.token < 0 || row.token >= target_->vocab())) {
      return make_error(ErrorCode::kInvalidArgument, "draft row {}: token id {} is outside the vocabulary", r, row.token);
    }
  }
  return ok_status();
}

Status MtpDrafter::step(ThreadPool& pool, const kv::KvCache& cache, TargetKvSlots slots,
                        std::span<const DraftStepRow> rows, const DraftStepOutput& out) const {
  SPECULA_RETURN_IF_ERROR(check_rows(cache, slots, rows, /*check_tokens=*/true));
  const size_t n = rows.size();
  const size_t hb = static_cast<size_t>(config_.backbone);
  // inputs = concat(E_target[tok] * sqrt(Hb), h): embedding first, hidden second (§3.2).
  AlignedVector<float> emb(n * hb), inputs(n * 2 * hb);
  std::vector<int32_t> ids(n);
  for (size_t r = 0; r < n; ++r) ids[r] = rows[r].token;
  ops::get_rows(pool, target_->weights().token_embd, ids, emb.data());
  const float scale = target_->config().embed_scale;
  for (size_t r = 0; r < n; ++r) {
    float* in = inputs.data() + r * 2 * hb;
    for (size_t j = 0; j < hb; ++j) in[j] = emb[r * hb + j] * scale;
    SPECULA_CHECK(rows[r].h != nullptr, "draft row {} has no hidden state", r);
    std::memcpy(in + hb, rows[r].h, hb * sizeof(float));
  }
  return step_inputs(pool, cache, slots, rows, inputs.data(), out);
}

Status MtpDrafter::step_inputs(ThreadPool& pool, const kv::KvCache& cache, TargetKvSlots slots,
                               std::span<const DraftStepRow> rows, const float* inputs,
                               const DraftStepOutput& out) const {
  SPECULA_RETURN_IF_ERROR(check_rows(cache, slots, rows, /*check_tokens=*/false));
  if (rows.empty()) return ok_status();
  const AssistantConfig& c = config_;
  const size_t n = rows.size();
  const int64_t nn = static_cast<int64_t>(n);
  Scratch s(c, n);
  for (size_t r = 0; r < n; ++r) s.positions[r] = rows[r].pos;
  ops::matmul(pool, weights_.pre_projection, inputs, nn, s.x.data());
  for (int i = 0; i < c.n_layers; ++i) layer_forward(pool, cache, slots, i, rows, s);
  ops::rms_norm(pool, s.x.data(), weights_.output_norm.data(), nn, c.hidden, c.rms_eps, s.xn.data());
  if (out.h_next != nullptr) ops::matmul(pool, weights_.post_projection, s.xn.data(), nn, out.h_next);
  if (out.logits == nullptr && out.argmax == nullptr) return ok_status();
  const size_t v = static_cast<size_t>(c.vocab);
  AlignedVector<float> own;
  float* logits = out.logits;
  if (logits == nullptr) {
    own.resize(n * v);
    logits = own.data();
  }
  head(pool, s.xn.data(), n, logits);
  if (out.argmax != nullptr) {
    for (size_t r = 0; r < n; ++r) {
      const float* row = logits + r * v;
      out.argmax[r] = static_cast<int32_t>(std::max_element(row, row + v) - row);  // first maximum: lowest id
    }
  }
  return ok_status();
}

// Decoder layer i (§1.7) with Q-only attention against the target's K/V (already k_norm'ed, RoPE'd and
// v_norm'ed there), on the rows in s.x.
void MtpDrafter::layer_forward(ThreadPool& pool, const kv::KvCache& cache, TargetKvSlots slots, int i,
                               std::span<const DraftStepRow> rows, Scratch& s) const {
  const AssistantConfig& c = config_;
  const AssistantLayerSpec& l = c.layers[static_cast<size_t>(i)];
  const AssistantLayerWeights& w = weights_.layers[static_cast<size_t>(i)];
  const size_t n = rows.size();
  const int64_t nn = static_cast<int64_t>(n);
  const size_t h = static_cast<size_t>(c.hidden);
  ops::rms_norm(pool, s.x.data(), w.attn_norm.data(), nn, c.hidden, c.rms_eps, s.xn.data());
  ops::matmul(pool, w.wq, s.xn.data(), nn, s.q.data());
  ops::rms_norm(pool, s.q.data(), w.q_norm.data(), nn * c.n_heads, l.head_dim, c.rms_eps, s.q.data());
  const float* factors = l.rope_freq_factors && !weights_.rope_freqs.empty() ? weights_.rope_freqs.data() : nullptr;
  ops::rope_neox(s.q.data(), nn, c.n_heads, l.head_dim, l.n_rot, s.positions, l.rope_theta, factors);
  for (size_t r = 0; r < n; ++r) s.queries[r] = visible_range(rows[r], l.sliding, c.sliding_window);
  attend_target_kv(pool, cache, l.sliding ? slots.sliding : slots.full, c.n_heads, s.queries, s.q.data(), s.attn.data());
  ops::matmul(pool, w.wo, s.attn.data(), nn, s.tmp.data());
  ops::rms_norm(pool, s.tmp.data(), w.post_attn_norm.data(), nn, c.hidden, c.rms_eps, s.tmp.data());
  add_inplace(s.x.data(), s.tmp.data(), n * h);
  ops::rms_norm(pool, s.x.data(), w.ffn_norm.data(), nn, c.hidden, c.rms_eps, s.xn.data());
  ops::matmul(pool, w.ffn_gate, s.xn.data(), nn, s.gate.data());
  ops::matmul(pool, w.ffn_up, s.xn.data(), nn, s.up.data());
  ops::gelu_tanh_mul(s.gate.data(), s.up.data(), nn * l.ffn_dim, s.gate.data());
  ops::matmul(pool, w.ffn_down, s.gate.data(), nn, s.tmp.data());
  ops::rms_norm(pool, s.tmp.data(), w.post_ffn_norm.data(), nn, c.hidden, c.rms_eps, s.tmp.data());
  add_inplace(s.x.data(), s.tmp.data(), n * h);
  if (w.output_scale != 1.0f) {
    for (size_t k = 0; k < n * h; ++k) s.x[k] *= w.output_scale;
  }
}

// LM head on the final-norm rows xn [n, Ha] into logits [n, V]: the full tied head, or the masked head of §3.6
// (top-k centroids select blocks of `ordering`; only those tokens are scored, the rest get min(scores) - 1).
void MtpDrafter::head(ThreadPool& pool, const float* xn, size_t n, float* logits) const {
  const AssistantConfig& c = config_;
  if (!weights_.has_centroids) {
    ops::matmul(pool, weights_.token_embd, xn, static_cast<int64_t>(n), logits);
    return;
  }
  const CentroidHead& ch = weights_.centroid_head;
  const size_t h = static_cast<size_t>(c.hidden);
  const size_t v = static_cast<size_t>(c.vocab);
  const size_t n_c = static_cast<size_t>(ch.n_centroids());
  const size_t block = v / n_c;
  const size_t k = static_cast<size_t>(c.centroid_top_k);
  std::vector<float> scores(n * n_c);
  ops::matmul(pool, ch.centroids, xn, static_cast<int64_t>(n), scores.data());
  std::vector<int32_t> top(k), cand(k * block);
  AlignedVector<float> rows(k * block * h);
  for (size_t r = 0; r < n; ++r) {
    ops::top_k(scores.data() + r * n_c, static_cast<int64_t>(n_c), static_cast<int64_t>(k), top.data());
    for (size_t j = 0; j < k; ++j) {
      for (size_t b = 0; b < block; ++b) cand[j * block + b] = ch.ordering[static_cast<size_t>(top[j]) * block + b];
    }
    ops::get_rows(pool, weights_.token_embd, cand, rows.data());
    const float* x = xn + r * h;
    float* out = logits + r * v;
    std::vector<float> s(cand.size());
    for (size_t t = 0; t < cand.size(); ++t) {
      float dot = 0.0f;
      for (size_t j = 0; j < h; ++j) dot += rows[t * h + j] * x[j];
      s[t] = dot;
    }
    const float fill = *std::min_element(s.begin(), s.end()) - 1.0f;
    std::fill(out, out + v, fill);
    for (size_t t = 0; t < cand.size(); ++t) out[static_cast<size_t>(cand[t])] = s[t];
  }
}

uint64_t MtpDrafter::weight_bytes_per_step() const {
  auto mat = [](const kernels::MatrixView& m) { return static_cast<uint64_t>(m.row_bytes) * static_cast<uint64_t>(m.rows); };
  uint64_t total = target_->weights().token_embd.row_bytes + mat(weights_.pre_projection) + mat(weights_.post_projection);
  for (const auto& l : weights_.layers) total += mat(l.wq) + mat(l.wo) + mat(l.ffn_gate) + mat(l.ffn_up) + mat(l.ffn_down);
  if (weights_.has_centroids) {
    const auto& ch = weights_.centroid_head;
    const uint64_t block = static_cast<uint64_t>(config_.vocab / ch.n_centroids());
    total += mat(ch.centroids) + weights_.token_embd.row_bytes * block * static_cast<uint64_t>(config_.centroid_top_k);
  } else {
    total += mat(weights_.token_embd);
  }
  return total;
}

}  // namespace specula::model
