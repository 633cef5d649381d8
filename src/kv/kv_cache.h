// The interface between a model and its KV cache: the model writes the K/V rows of a batch and calls
// attention; the cache decides how entries are stored (float32 by position: SimpleKvCache; paged and
// codec-packed: KvPool). Also the read accessors other components (the MTP drafter) use.
#pragma once

#include <cstddef>
#include <span>

#include "base/result.h"
#include "base/thread_pool.h"

namespace specula::kv {

struct KvSlotShape {
  int n_kv_heads = 0;
  int head_dim = 0;
  int width() const { return n_kv_heads * head_dim; }
};

// One query row of an attention call: it sees the keys of sequence `seq` at positions [first, last]. `last` may
// lie past the row's own position (bidirectional image blocks, gemma4-spec.md §1.12: a soft token sees the rest
// of its block); every position up to it must have been written, by this batch (write() runs for the whole batch
// before attention()) or an earlier one.
struct AttnQuery {
  int seq = 0;
  int first = 0;
  int last = 0;
};

// A batch row as the cache sees it.
struct KvRowRef {
  int seq = 0;
  int pos = 0;
};

class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int n_ctx() const = 0;  // positions per sequence
  virtual int n_seq() const = 0;
  virtual int n_slots() const = 0;
  virtual const KvSlotShape& shape(int slot) const = 0;
  virtual size_t bytes() const = 0;  // storage allocated for K and V

  // Once per forward batch, before any write: checks the rows against the cache (sequence ids, positions,
  // per-sequence order) and makes room. Rows of one sequence have consecutive positions; a first position
  // below the sequence's length truncates it there. Errors: context full (names the sequence), gaps.
  virtual Status begin_batch(std::span<const KvRowRef> rows) = 0;
  // Stores the K and V rows of one slot for the batch given to begin_batch. k, v: [rows.size(), width] floats.
  virtual void write(ThreadPool& pool, int slot, std::span<const KvRowRef> rows, const float* k, const float* v) = 0;
  // out[r, h, :] = softmax(scale * q[r, h, :] · K[kv(h)]ᵀ) · V[kv(h)] over the visible positions of row r,
  // kv(h) = h / (n_heads / n_kv_heads). q, out: [n_rows, n_heads, head_dim]. A row's result depends only on
  // its own query and the cached entries it sees (batch invariant), never on the thread count.
  virtual void attention(ThreadPool& pool, int slot, int n_heads, std::span<const AttnQuery> rows, const float* q,
                         float scale, float* out) const = 0;
  // The stored K / V of one position, dequantized to the original domain: [n_kv_heads, head_dim] floats.
  virtual void read_k(int slot, int seq, int pos, float* out) const = 0;
  virtual void read_v(int slot, int seq, int pos, float* out) const = 0;

  // Forget positions >= n_tokens of a sequence (draft rollback, prompt-cache reuse). O(1).
  virtual Status truncate(int seq, int n_tokens) = 0;
};

// Attention through the cache's own kernel (see KvCache::attention).
inline void attention(ThreadPool& pool, const KvCache& cache, int slot, int n_heads, std::span<const AttnQuery> rows,
                      const float* q, float scale, float* out) {
  cache.attention(pool, slot, n_heads, rows, q, scale, out);
}

}  // namespace specula::kv
