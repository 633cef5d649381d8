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

namespace specula::kv {

struct KvSlotShape {
  int n_kv_heads = 0;
  int head_dim = 0;
  int width() const { return n_kv_heads * head_dim; }
};

class SimpleKvCache {
 public:
  // Errors: kOutOfRange when the cache would exceed max_bytes.
  static Result<SimpleKvCache> create(std::vector<KvSlotShape> slots, int n_seq, int n_ctx, size_t max_bytes);

  int n_ctx() const { return n_ctx_; }
  int n_seq() const { return n_seq_; }
  const KvSlotShape& shape(int slot) const { return slots_[static_cast<size_t>(slot)]; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

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

// One query row of an attention call: it sees the keys of sequence `seq` at positions [first, last].
struct AttnQuery {
  int seq = 0;
  int first = 0;
  int last = 0;
};

// out[r, h, :] = softmax(scale * q[r, h, :] · K[kv(h)]ᵀ) · V[kv(h)] over the visible positions of row r,
// with kv(h) = h / (n_heads / n_kv_heads). q, out: [n_rows, n_heads, head_dim]. Softmax in float32 with
// max subtraction; a row's result depends only on its own query and keys (batch invariant).
void attention(ThreadPool& pool, const SimpleKvCache& cache, int slot, int n_heads, std::span<const AttnQuery> rows,
               const float* q, float scale, float* out);

}  // namespace specula::kv
