// Shared by the KvPool tests of one 128-dim KV head read by two query heads (kv_center_test, kv_sink_test): the
// data, appending a batch of positions and one query row's attention over [0, last].
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "base/thread_pool.h"
#include "kv/kv_cache.h"
#include "kv/kv_pool.h"

namespace specula::kv::one_head {

inline constexpr int kDim = 128;
inline constexpr int kHeads = 2;  // query heads, sharing the one kv head

struct Data {
  std::vector<float> k, v, q;  // [n, kDim], [n, kDim], [kHeads, kDim]
};

// A pool of one full-attention slot (layer 0, one KV head of kDim), f32 V, 16-token pages, batches up to n_ctx.
inline std::unique_ptr<KvPool> pool(KvType k, int n_seq, int n_ctx, int recent, int sink,
                                    std::vector<float> k_scale = {}) {
  KvPoolOptions o;
  o.recent = recent;
  o.sink = sink;
  o.type_k = k;
  o.type_v = KvType::kF32;
  o.n_ctx = n_ctx;
  o.n_seq = n_seq;
  o.max_batch = n_ctx;
  o.page_tokens = 16;
  return KvPool::create({{0, 1, kDim, 0, std::move(k_scale)}}, o).value();
}

// Writes positions [first, first + n) of sequence seq in one batch.
inline void append(ThreadPool& tp, KvCache& c, int seq, int first, int n, const Data& d) {
  std::vector<KvRowRef> rows;
  for (int i = 0; i < n; ++i) rows.push_back({seq, first + i});
  ASSERT_TRUE(c.begin_batch(rows).ok());
  c.write(tp, 0, rows, d.k.data() + static_cast<size_t>(first) * kDim, d.v.data() + static_cast<size_t>(first) * kDim);
}

// The attention of d.q over positions [0, last] of sequence seq (scale 0.05).
inline std::vector<float> attend(ThreadPool& tp, const KvCache& c, int seq, int last, const Data& d) {
  std::vector<float> out(kHeads * kDim);
  const std::vector<AttnQuery> rows = {{seq, 0, last}};
  c.attention(tp, 0, kHeads, rows, d.q.data(), 0.05f, out.data());
  return out;
}

inline double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double{a[i]} - double{b[i]}));
  return m;
}

}  // namespace specula::kv::one_head
