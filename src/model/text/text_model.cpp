#include "model/text/text_model.h"

#include <algorithm>
#include <cmath>

#include "format/ggml_type.h"

namespace specula::model {

Result<std::unique_ptr<TextModel>> TextModel::load(const std::string& path) {
  SPECULA_TRY(format::GgufFile file, format::GgufFile::open(path));
  SPECULA_TRY(TextConfig config, read_text_config(file));
  std::unique_ptr<TextModel> model(new TextModel(std::move(file), std::move(config)));
  SPECULA_TRY(model->weights_, bind_text_weights(model->file_, model->config_));
  const int64_t vocab = model->weights_.token_embd.rows;
  if (vocab < 1 || vocab > (int64_t{1} << 24)) {
    return make_error(ErrorCode::kCorruptData, "{}: vocabulary size {} is out of range", path, vocab);
  }
  model->config_.vocab = static_cast<int>(vocab);
  return model;
}

std::vector<kv::KvSlotShape> TextModel::kv_slot_shapes() const {
  std::vector<kv::KvSlotShape> shapes;
  for (const auto& l : config_.layers) {
    if (l.owns_kv()) shapes.push_back({l.n_kv_heads, l.head_dim});
  }
  return shapes;
}

Result<kv::SimpleKvCache> TextModel::make_cache(int n_seq, int n_ctx, size_t max_bytes) const {
  return kv::SimpleKvCache::create(kv_slot_shapes(), n_seq, n_ctx, max_bytes);
}

namespace {

// The key scale of a Gemma layer (kv::KvPoolSlot::k_scale): q = q_norm ⊙ q̂ and k = k_norm ⊙ k̂ with unit-RMS q̂,
// k̂, so channel j of a query has magnitude ~|q_norm_j| and of a key ~|k_norm_j|. Storing k_j · s_j and querying
// with q_j / s_j, s_j = sqrt(|q_norm_j| / |k_norm_j|), gives both the same magnitude ~sqrt(|q_norm_j k_norm_j|):
// the quantization error of a rotated K codec is spread evenly over channels, and this makes the channels that
// carry large query weights carry large keys, minimizing the score error (Cauchy-Schwarz). Equal within each RoPE
// pair (j, j + d/2) so that it commutes with the rotation; clamped to [1/8, 8]. On Gemma 3 270M it lowers the
// turbo3/turbo3 mean KL from 0.0123 to 0.0043 at c=512 (docs/kv-cache.md). Empty without q/k norms or with
// interleaved RoPE.
std::vector<float> gemma_key_scale(const TextConfig& c, const LayerSpec& l, const LayerWeights& w) {
  const size_t d = static_cast<size_t>(l.head_dim);
  if (c.rope_style != RopeStyle::kNeox || w.q_norm.size() != d || w.k_norm.size() != d || d % 2 != 0) return {};
  std::vector<float> s(d);
  for (size_t j = 0; j < d / 2; ++j) {
    const double qe = std::hypot(static_cast<double>(w.q_norm[j]), static_cast<double>(w.q_norm[j + d / 2]));
    const double ke = std::hypot(static_cast<double>(w.k_norm[j]), static_cast<double>(w.k_norm[j + d / 2]));
    const double ratio = std::clamp((qe + 1e-3) / (ke + 1e-3), 1.0 / 64, 64.0);
    s[j] = s[j + d / 2] = static_cast<float>(std::sqrt(ratio));
  }
  return s;
}

}  // namespace

std::vector<kv::KvPoolSlot> TextModel::kv_pool_slots() const {
  std::vector<kv::KvPoolSlot> slots;
  for (size_t i = 0; i < config_.layers.size(); ++i) {
    const LayerSpec& l = config_.layers[i];
    if (!l.owns_kv()) continue;
    slots.push_back({static_cast<int>(i), l.n_kv_heads, l.head_dim, l.sliding ? config_.sliding_window : 0,
                     gemma_key_scale(config_, l, weights_.layers[i])});
  }
  return slots;
}

Result<std::unique_ptr<kv::KvCache>> TextModel::make_kv_cache(const kv::KvPoolOptions& options) const {
  if (options.type_k == kv::KvType::kF32 && options.type_v == kv::KvType::kF32) {
    SPECULA_TRY(auto cache, make_cache(options.n_seq, options.n_ctx, options.max_bytes));
    return std::unique_ptr<kv::KvCache>(std::make_unique<kv::SimpleKvCache>(std::move(cache)));
  }
  SPECULA_TRY(auto pool, kv::KvPool::create(kv_pool_slots(), options));
  return std::unique_ptr<kv::KvCache>(std::move(pool));
}

uint64_t TextModel::weight_bytes_per_token() const {
  auto mat = [](const kernels::MatrixView& m) { return static_cast<uint64_t>(m.row_bytes) * static_cast<uint64_t>(m.rows); };
  uint64_t total = weights_.token_embd.row_bytes + mat(weights_.output);
  if (weights_.ple_token_embd.data != nullptr) total += weights_.ple_token_embd.row_bytes + mat(weights_.ple_model_proj);
  for (const auto& l : weights_.layers) {
    total += mat(l.wq) + mat(l.wk) + mat(l.wv) + mat(l.wo) + mat(l.ffn_gate) + mat(l.ffn_up) + mat(l.ffn_down);
    total += mat(l.ple_gate) + mat(l.ple_proj);
    if (l.has_moe) {
      // Only the routed experts are read: n_experts_used of them.
      const uint64_t per_expert = l.moe.fused() ? l.moe.gate_up.matrix_bytes + l.moe.down.matrix_bytes
                                                : l.moe.gate.matrix_bytes + l.moe.up.matrix_bytes + l.moe.down.matrix_bytes;
      total += mat(l.moe.router) + per_expert * static_cast<uint64_t>(config_.n_experts_used);
    }
  }
  return total;
}

Status TextModel::check_rows(const kv::KvCache& cache, std::span<const ForwardRow> rows) const {
  for (size_t r = 0; r < rows.size(); ++r) {
    const ForwardRow& row = rows[r];
    if (row.seq < 0 || row.seq >= cache.n_seq()) {
      return make_error(ErrorCode::kInvalidArgument, "row {}: sequence {} is outside the cache's {} sequences", r, row.seq,
                        cache.n_seq());
    }
    if (row.pos < 0 || row.pos >= cache.n_ctx()) {
      return make_error(ErrorCode::kOutOfRange, "row {}: position {} is outside the context of {} tokens", r, row.pos,
                        cache.n_ctx());
    }
    if (row.embedding == nullptr && (row.token < 0 || row.token >= config_.vocab)) {
      return make_error(ErrorCode::kInvalidArgument, "row {}: token id {} is outside the vocabulary of {}", r, row.token,
                        config_.vocab);
    }
    if (config_.ple_dim > 0 && (row.token < 0 || row.token >= weights_.ple_token_embd.rows)) {
      return make_error(ErrorCode::kInvalidArgument, "row {}: token id {} is outside the per-layer embedding table", r,
                        row.token);
    }
  }
  return ok_status();
}

namespace {

// Whether the rows after r hold every position pos+1..block_end of r's sequence, in order. Fast path: the
// sequence's rows are contiguous in the batch; otherwise (sequences interleaved) a scan.
bool block_whole(std::span<const ForwardRow> rows, size_t r) {
  const ForwardRow& row = rows[r];
  const size_t last = r + static_cast<size_t>(row.block_end - row.pos);
  if (last < rows.size() && rows[last].seq == row.seq && rows[last].pos == row.block_end) {
    bool contiguous = true;
    for (size_t j = r + 1; j <= last && contiguous; ++j) contiguous = rows[j].seq == row.seq;
    if (contiguous) return true;
  }
  int32_t expect = row.pos + 1;
  for (size_t j = r + 1; j < rows.size() && expect <= row.block_end; ++j) {
    if (rows[j].seq != row.seq) continue;
    if (rows[j].pos != expect) return false;
    ++expect;
  }
  return expect > row.block_end;
}

// The run of embedding rows without block_end that starts at batch index r: contiguous in the batch, one
// sequence, consecutive positions. Its block is known when text rows of the same sequence bracket it in the
// batch (the <|image> before and the <image|> after it): returns the index of its last row, or -1 when the run
// touches the batch's edge (it may continue in another batch: unknown).
int64_t bracketed_run_end(std::span<const ForwardRow> rows, size_t r) {
  const ForwardRow& first = rows[r];
  size_t e = r;
  while (e + 1 < rows.size() && rows[e + 1].embedding != nullptr && rows[e + 1].block_end < 0 &&
         rows[e + 1].seq == first.seq && rows[e + 1].pos == rows[e].pos + 1) {
    ++e;
  }
  const auto text_at = [&](size_t j, int32_t pos) {
    return rows[j].embedding == nullptr && rows[j].seq == first.seq && rows[j].pos == pos;
  };
  const bool before = r > 0 && text_at(r - 1, first.pos - 1);
  const bool after = e + 1 < rows.size() && text_at(e + 1, rows[e].pos + 1);
  return before && after ? static_cast<int64_t>(e) : -1;
}

}  // namespace

// Per row, the last position a bidirectional sliding layer lets it see (its block end, -1 for other rows). A
// row's block end is ForwardRow::block_end, or for embedding rows without one, the end of their run when the run
// is bracketed by text rows in this batch (so callers that keep image blocks whole, such as the server's
// chunker, need not fill the field). Rows pos..block_end of the sequence must all be in this batch.
Result<std::vector<int32_t>> TextModel::image_blocks(std::span<const ForwardRow> rows) const {
  std::vector<int32_t> ends(rows.size(), -1);
  for (size_t r = 0; r < rows.size(); ++r) {
    const ForwardRow& row = rows[r];
    if (row.block_end >= 0) {
      if (row.block_end < row.pos) {
        return make_error(ErrorCode::kInvalidArgument, "row {}: image block end {} is before its position {}", r,
                          row.block_end, row.pos);
      }
      // Rows of one block share block_end: checking the block's first row in the batch covers the others.
      const bool checked = r > 0 && rows[r - 1].seq == row.seq && rows[r - 1].block_end == row.block_end;
      if (!checked && !block_whole(rows, r)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "row {}: the image block of sequence {} from position {} to {} is not whole in this batch; "
                          "this model attends bidirectionally inside image blocks, so a block must be processed in "
                          "one forward call", r, row.seq, row.pos, row.block_end);
      }
      ends[r] = row.block_end;
      continue;
    }
    if (row.embedding == nullptr || ends[r] >= 0) continue;
    const int64_t e = bracketed_run_end(rows, r);
    if (e < 0) {
      // Silently causal image attention would be wrong for this model.
      return make_error(ErrorCode::kInvalidArgument,
                        "row {}: an image embedding row without block_end whose block is not whole in this batch "
                        "(between its <|image> and <image|> rows); this model attends bidirectionally inside image "
                        "blocks", r);
    }
    for (size_t j = r; j <= static_cast<size_t>(e); ++j) ends[j] = rows[static_cast<size_t>(e)].pos;
  }
  return ends;
}

}  // namespace specula::model
