// A text decoder (Gemma 4, Gemma 3 or llama) loaded from GGUF, with a batched forward pass over rows of
// one or more sequences. The forward pass reads like the model definition (gemma4-spec.md §1): direct calls
// to the CPU kernels over typed weights.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/aligned.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "kv/kv_pool.h"
#include "kv/simple_kv_cache.h"
#include "model/text/text_config.h"
#include "model/text/text_weights.h"

namespace specula::model {

// One row of a forward batch. Rows of the same sequence must appear in increasing position order, and a
// sequence's positions before its first row must already be in the cache.
struct ForwardRow {
  int32_t token = 0;                // token id (also used for PLE's token part; pass the pad id for soft tokens)
  int32_t pos = 0;                  // absolute position
  int32_t seq = 0;                  // sequence (cache row)
  const float* embedding = nullptr; // [hidden] input embedding instead of the token's (image soft tokens; unscaled)
  // Image soft-token rows: the last position of the row's image block (the contiguous run of soft tokens it
  // belongs to); -1 for every other row. Used only when config().bidirectional_images: on sliding layers the
  // row then also sees the later rows of its block (gemma4-spec.md §1.12), so the batch must hold the rest of
  // the block (forward() refuses a split block). An embedding row left at -1 gets the end of its run of
  // embedding rows when text rows of its sequence bracket that run in the batch (its <|image> and <image|>),
  // and is refused otherwise. A batch must not start inside a block whose earlier rows are cached either
  // (prefix reuse: cut before the block); the model cannot see that. Ignored by causal models.
  int32_t block_end = -1;
};

struct ForwardOutput {
  std::span<const int32_t> logit_rows;  // which batch rows produce logits (in this order)
  float* logits = nullptr;              // [logit_rows.size(), vocab]
  float* hidden = nullptr;              // optional [logit_rows.size(), hidden]: final-norm hidden states
};

class TextModel {
 public:
  static Result<std::unique_ptr<TextModel>> load(const std::string& path);

  const TextConfig& config() const { return config_; }
  // Overrides TextConfig::bidirectional_images (for GGUF files without specula's key, where the caller knows
  // from the vision tower; runtime::bind_vision_to_text). Not thread-safe against a running forward().
  void set_bidirectional_images(bool on) { config_.bidirectional_images = on; }
  const TextWeights& weights() const { return weights_; }
  const format::GgufFile& file() const { return file_; }
  int vocab() const { return static_cast<int>(weights_.token_embd.rows); }

  // KV slot shapes of the KV-owning layers, in slot order.
  std::vector<kv::KvSlotShape> kv_slot_shapes() const;
  Result<kv::SimpleKvCache> make_cache(int n_seq, int n_ctx, size_t max_bytes = size_t{8} << 30) const;
  // The KV-owning layers as KV pool slots (sliding layers carry the window).
  std::vector<kv::KvPoolSlot> kv_pool_slots() const;
  // A cache with the options' K/V types (-ctk/-ctv): the float32 position-indexed cache (the reference path)
  // when both are f32, otherwise the paged, codec-packed KvPool. Errors: head dims a type cannot store (names
  // the layer), memory above options.max_bytes.
  Result<std::unique_ptr<kv::KvCache>> make_kv_cache(const kv::KvPoolOptions& options) const;

  // Runs the rows through the decoder, appending their K/V to the cache. Errors: positions outside the
  // cache, bad token ids, sequence ids out of range, an image block split across batches (bidirectional
  // models only: see ForwardRow::block_end).
  Status forward(ThreadPool& pool, kv::KvCache& cache, std::span<const ForwardRow> rows,
                 const ForwardOutput& out);

  // Bytes of weights read to decode one token (all matrices once, plus one row of each embedding table).
  uint64_t weight_bytes_per_token() const;

  struct Scratch;  // activation buffers of one forward call (defined in text_forward.cpp)

 private:
  TextModel(format::GgufFile file, TextConfig config) : file_(std::move(file)), config_(std::move(config)) {}
  Status check_rows(const kv::KvCache& cache, std::span<const ForwardRow> rows) const;
  Result<std::vector<int32_t>> image_blocks(std::span<const ForwardRow> rows) const;

  format::GgufFile file_;
  TextConfig config_;
  TextWeights weights_;
};

}  // namespace specula::model
