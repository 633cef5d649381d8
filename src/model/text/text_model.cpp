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
  return ok_status();
}

}  // namespace specula::model
