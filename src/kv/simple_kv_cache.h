// A contiguous float32 KV cache: per KV-owning layer ("slot") and per sequence, n_ctx entries indexed by
// position. The paged, codec-aware pool replaces it for serving; this one is the plain reference store
// that the text model and its tests use.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/aligned.h"
#include "base/result.h"
#include "base/thread_pool.h"
#include "kv/kv_cache.h"

namespace specula::kv {

class SimpleKvCache final : public KvCache {
 public:
  // Errors: kOutOfRange when the cache would exceed max_bytes.
  static Result<SimpleKvCache> create(std::vector<KvSlotShape> slots, int n_seq, int n_ctx, size_t max_bytes);

  int n_ctx() const override { return n_ctx_; }
  int n_seq() const override { return n_seq_; }
  int n_slots() const override { return static_cast<int>(slots_.size()); }
  const KvSlotShape& shape(int slot) const override { return slots_[static_cast<size_t>(slot)]; }
  size_t bytes() const override { return (k_.size() + v_.size()) * sizeof(float); }

  // KvCache: entries are indexed by position, so a batch only needs positions inside the context and
  // truncation has nothing to do.
  Status begin_batch(std::span<const KvRowRef> rows) override;
  void write(ThreadPool& pool, int slot, std::span<const KvRowRef> rows, const float* k, const float* v) override;
  void attention(ThreadPool& pool, int slot, int n_heads, std::span<const AttnQuery> rows, const float* q, float scale,
                 float* out) const override;
  void read_k(int slot, int seq, int pos, float* out) const override;
  void read_v(int slot, int seq, int pos, float* out) const override;
  Status truncate(int seq, int n_tokens) override;

  // Row of one position: [n_kv_heads, head_dim]. pos must be in [0, n_ctx).
  float* k(int slot, int seq, int pos) { return k_.data() + offset(slot, seq, pos); }
  float* v(int slot, int seq, int pos) { return v_.data() + offset(slot, seq, pos); }
  const float* k(int slot, int seq, int pos) const { return k_.data() + offset(slot, seq, pos); }
  const float* v(int slot, int seq, int pos) const { return v_.data() + offset(slot, seq, pos); }

 private:
  size_t offset(int slot, int seq, int pos) const;

  std::vector<KvSlotShape> slots_;
  std::vector<size_t> slot_base_;  // start of each slot's region (floats)
  int n_seq_ = 0;
  int n_ctx_ = 0;
  AlignedVector<float> k_, v_;
};

// KvCache::attention of this cache (also reachable as kv::attention(pool, cache, ...)): float32 dot
// products in position order, softmax in float32 with max subtraction.

}  // namespace specula::kv
