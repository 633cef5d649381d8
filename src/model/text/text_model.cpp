#include "model/text/text_model.h"

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

std::vector<kv::KvPoolSlot> TextModel::kv_pool_slots() const {
  std::vector<kv::KvPoolSlot> slots;
  for (size_t i = 0; i < config_.layers.size(); ++i) {
    const LayerSpec& l = config_.layers[i];
    if (l.owns_kv()) slots.push_back({static_cast<int>(i), l.n_kv_heads, l.head_dim, l.sliding ? config_.sliding_window : 0});
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
  return check_blocks(rows);
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

}  // namespace

// A bidirectional image row sees its block up to block_end, so rows pos..block_end of its sequence must all be
// in this batch. Causal models ignore block_end.
Status TextModel::check_blocks(std::span<const ForwardRow> rows) const {
  if (!config_.bidirectional_images) return ok_status();
  for (size_t r = 0; r < rows.size(); ++r) {
    const ForwardRow& row = rows[r];
    if (row.block_end < 0) {
      if (row.embedding == nullptr) continue;
      // Silently causal image attention would be wrong for this model: every soft-token row needs its block.
      return make_error(ErrorCode::kInvalidArgument, "row {}: an embedding row without its image block (block_end); "
                        "this model attends bidirectionally inside image blocks", r);
    }
    if (row.block_end < row.pos) {
      return make_error(ErrorCode::kInvalidArgument, "row {}: image block end {} is before its position {}", r,
                        row.block_end, row.pos);
    }
    // Rows of one block share block_end: checking the block's first row in the batch covers the others.
    if (r > 0 && rows[r - 1].seq == row.seq && rows[r - 1].block_end == row.block_end) continue;
    if (!block_whole(rows, r)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "row {}: the image block of sequence {} from position {} to {} is not whole in this batch; "
                        "this model attends bidirectionally inside image blocks, so a block must be processed in one "
                        "forward call", r, row.seq, row.pos, row.block_end);
    }
  }
  return ok_status();
}

}  // namespace specula::model
