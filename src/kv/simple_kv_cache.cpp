#include "kv/simple_kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace specula::kv {

Result<SimpleKvCache> SimpleKvCache::create(std::vector<KvSlotShape> slots, int n_seq, int n_ctx, size_t max_bytes) {
  if (n_seq < 1 || n_ctx < 1) return make_error(ErrorCode::kInvalidArgument, "KV cache needs n_seq >= 1 and n_ctx >= 1");
  SimpleKvCache c;
  c.slots_ = std::move(slots);
  c.n_seq_ = n_seq;
  c.n_ctx_ = n_ctx;
  size_t total = 0;
  for (const auto& s : c.slots_) {
    c.slot_base_.push_back(total);
    total += static_cast<size_t>(s.width()) * static_cast<size_t>(n_ctx) * static_cast<size_t>(n_seq);
  }
  const size_t bytes = 2 * total * sizeof(float);
  if (bytes > max_bytes) {
    return make_error(ErrorCode::kOutOfRange, "KV cache of {} MiB (context {}, {} sequences) exceeds the limit of {} MiB",
                      bytes >> 20, n_ctx, n_seq, max_bytes >> 20);
  }
  c.k_.assign(total, 0.0f);
  c.v_.assign(total, 0.0f);
  return c;
}

size_t SimpleKvCache::offset(int slot, int seq, int pos) const {
  SPECULA_DCHECK(pos >= 0 && pos < n_ctx_ && seq >= 0 && seq < n_seq_);
  const size_t w = static_cast<size_t>(slots_[static_cast<size_t>(slot)].width());
  return slot_base_[static_cast<size_t>(slot)] + (static_cast<size_t>(seq) * static_cast<size_t>(n_ctx_) +
                                                  static_cast<size_t>(pos)) * w;
}

Status SimpleKvCache::begin_batch(std::span<const KvRowRef> rows) {
  for (const KvRowRef& r : rows) {
    if (r.seq < 0 || r.seq >= n_seq_) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {} is outside the cache's {} sequences", r.seq, n_seq_);
    }
    if (r.pos < 0 || r.pos >= n_ctx_) {
      return make_error(ErrorCode::kOutOfRange, "sequence {} is full: position {} is outside the context of {} tokens",
                        r.seq, r.pos, n_ctx_);
    }
  }
  return ok_status();
}

void SimpleKvCache::write(ThreadPool& /*pool*/, int slot, std::span<const KvRowRef> rows, const float* k_rows,
                          const float* v_rows) {
  const size_t w = static_cast<size_t>(shape(slot).width());
  for (size_t r = 0; r < rows.size(); ++r) {
    std::memcpy(k(slot, rows[r].seq, rows[r].pos), k_rows + r * w, w * sizeof(float));
    std::memcpy(v(slot, rows[r].seq, rows[r].pos), v_rows + r * w, w * sizeof(float));
  }
}

void SimpleKvCache::read_k(int slot, int seq, int pos, float* out) const {
  std::memcpy(out, k(slot, seq, pos), static_cast<size_t>(shape(slot).width()) * sizeof(float));
}

void SimpleKvCache::read_v(int slot, int seq, int pos, float* out) const {
  std::memcpy(out, v(slot, seq, pos), static_cast<size_t>(shape(slot).width()) * sizeof(float));
}

Status SimpleKvCache::truncate(int seq, int n_tokens) {
  if (seq < 0 || seq >= n_seq_ || n_tokens < 0 || n_tokens > n_ctx_) {
    return make_error(ErrorCode::kInvalidArgument, "truncate: sequence {} / length {} is outside the cache", seq,
                      n_tokens);
  }
  return ok_status();
}

namespace {

void attend_one(const SimpleKvCache& cache, int slot, const AttnQuery& row, int kv_head, const float* q, float scale,
                float* out, std::vector<float>& scores) {
  const int d = cache.shape(slot).head_dim;
  const int n = row.last - row.first + 1;
  scores.resize(static_cast<size_t>(n));
  float max_score = -INFINITY;
  for (int i = 0; i < n; ++i) {
    const float* k = cache.k(slot, row.seq, row.first + i) + static_cast<size_t>(kv_head) * d;
    float dot = 0.0f;
    for (int j = 0; j < d; ++j) dot += q[j] * k[j];
    scores[static_cast<size_t>(i)] = dot * scale;
    max_score = std::max(max_score, scores[static_cast<size_t>(i)]);
  }
  float sum = 0.0f;
  for (auto& s : scores) {
    s = std::exp(s - max_score);
    sum += s;
  }
  const float inv = 1.0f / sum;
  std::fill(out, out + d, 0.0f);
  for (int i = 0; i < n; ++i) {
    const float p = scores[static_cast<size_t>(i)] * inv;
    const float* v = cache.v(slot, row.seq, row.first + i) + static_cast<size_t>(kv_head) * d;
    for (int j = 0; j < d; ++j) out[j] += p * v[j];
  }
}

}  // namespace

void SimpleKvCache::attention(ThreadPool& pool, int slot, int n_heads, std::span<const AttnQuery> rows, const float* q,
                              float scale, float* out) const {
  const SimpleKvCache& cache = *this;
  const KvSlotShape& shape = cache.shape(slot);
  const int group = n_heads / shape.n_kv_heads;
  const size_t d = static_cast<size_t>(shape.head_dim);
  const size_t n_tasks = rows.size() * static_cast<size_t>(n_heads);
  pool.parallel_for(n_tasks, [&](size_t begin, size_t end) {
    std::vector<float> scores;
    for (size_t t = begin; t < end; ++t) {
      const size_t r = t / static_cast<size_t>(n_heads);
      const int h = static_cast<int>(t % static_cast<size_t>(n_heads));
      const size_t off = (r * static_cast<size_t>(n_heads) + static_cast<size_t>(h)) * d;
      SPECULA_DCHECK(rows[r].first <= rows[r].last);
      attend_one(cache, slot, rows[r], h / group, q + off, scale, out + off, scores);
    }
  });
}

}  // namespace specula::kv
