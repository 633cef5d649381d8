// KvPool: sequence operations (truncate, copy_prefix, implicit rollback) against pools that never saw the
// rolled-back rows, the sliding ring under speculative rounds, memory accounting per codec, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kv/kv_pool.h"
#include "kv/simple_kv_cache.h"

namespace specula::kv {
namespace {

// Two sliding slots (window 8) and one full slot; head dims 64/128 so that every codec applies.
std::vector<KvPoolSlot> test_slots() { return {{0, 2, 64, 8}, {1, 1, 128, 0}, {2, 2, 64, 8}}; }

KvPoolOptions opts(KvType k, KvType v, int n_ctx, int n_seq, int max_batch, int page = 16) {
  KvPoolOptions o;
  o.type_k = k;
  o.type_v = v;
  o.n_ctx = n_ctx;
  o.n_seq = n_seq;
  o.max_batch = max_batch;
  o.page_tokens = page;
  return o;
}

// K/V rows are a function of (token, position, slot), so equal histories give equal entries.
void row_values(const KvCache& c, int slot, int token, int pos, std::vector<float>& k, std::vector<float>& v) {
  const size_t w = static_cast<size_t>(c.shape(slot).width());
  k.resize(w);
  v.resize(w);
  std::mt19937 rng(static_cast<uint32_t>(token * 7919 + pos * 104729 + slot * 31));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (size_t i = 0; i < w; ++i) k[i] = dist(rng) + 0.3f;
  for (size_t i = 0; i < w; ++i) v[i] = dist(rng);
}

// Appends tokens at positions first.. for one sequence, as the model does (begin_batch, then each slot).
Status append(ThreadPool& pool, KvCache& c, int seq, int first, const std::vector<int>& tokens) {
  std::vector<KvRowRef> rows;
  for (size_t i = 0; i < tokens.size(); ++i) rows.push_back({seq, first + static_cast<int>(i)});
  SPECULA_RETURN_IF_ERROR(c.begin_batch(rows));
  std::vector<float> k, v, ks, vs;
  for (int slot = 0; slot < c.n_slots(); ++slot) {
    ks.clear();
    vs.clear();
    for (size_t i = 0; i < tokens.size(); ++i) {
      row_values(c, slot, tokens[i], rows[i].pos, k, v);
      ks.insert(ks.end(), k.begin(), k.end());
      vs.insert(vs.end(), v.begin(), v.end());
    }
    c.write(pool, slot, rows, ks.data(), vs.data());
  }
  return ok_status();
}

// Attention of fixed queries at positions first_pos..len-1 per slot (full slots), or at the last 4 positions
// (sliding slots: older windows are legitimately gone from the ring).
std::vector<float> probe(ThreadPool& pool, const KvCache& c, int seq, int len, int first_pos = 0) {
  std::vector<float> all;
  const std::vector<int> windows = {8, 0, 8};
  for (int slot = 0; slot < c.n_slots(); ++slot) {
    const KvSlotShape& s = c.shape(slot);
    const int n_heads = 2 * s.n_kv_heads;
    std::vector<AttnQuery> rows;
    const int from = windows[static_cast<size_t>(slot)] > 0 ? std::max(first_pos, len - 4) : first_pos;
    for (int p = from; p < len; ++p) {
      rows.push_back({seq, windows[static_cast<size_t>(slot)] > 0 ? std::max(0, p - 7) : 0, p});
    }
    std::vector<float> q(rows.size() * static_cast<size_t>(n_heads * s.head_dim));
    for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * static_cast<float>(i));
    std::vector<float> out(q.size());
    c.attention(pool, slot, n_heads, rows, q.data(), 0.2f, out.data());
    all.insert(all.end(), out.begin(), out.end());
  }
  return all;
}

std::vector<int> range_tokens(int n, int base) {
  std::vector<int> t;
  for (int i = 0; i < n; ++i) t.push_back(base + i);
  return t;
}

TEST(KvPool, TruncateThenAppendEqualsNeverAppended) {
  ThreadPool pool(2);
  for (KvType t : {KvType::kF16, KvType::kQ8_0, KvType::kTurbo3}) {
    auto a = KvPool::create(test_slots(), opts(t, t, 128, 2, 6)).value();
    auto b = KvPool::create(test_slots(), opts(t, t, 128, 2, 6)).value();
    const std::vector<int> hist = range_tokens(40, 100);
    for (int i = 0; i < 40; i += 5) {
      ASSERT_TRUE(append(pool, *a, 0, i, std::vector<int>(hist.begin() + i, hist.begin() + i + 5)).ok());
      ASSERT_TRUE(append(pool, *b, 0, i, std::vector<int>(hist.begin() + i, hist.begin() + i + 5)).ok());
    }
    // a: a rejected 6-row draft batch, rolled back explicitly; then another, rolled back implicitly.
    ASSERT_TRUE(append(pool, *a, 0, 40, range_tokens(6, 900)).ok());
    ASSERT_TRUE(a->truncate(0, 41).ok());
    ASSERT_TRUE(append(pool, *a, 0, 41, range_tokens(5, 950)).ok());
    ASSERT_TRUE(append(pool, *a, 0, 41, {777, 778}).ok());  // starts inside the sequence: truncates to 41
    ASSERT_TRUE(append(pool, *b, 0, 40, {900, 777, 778}).ok());
    EXPECT_EQ(a->length(0), 43);
    EXPECT_EQ(probe(pool, *a, 0, 43), probe(pool, *b, 0, 43)) << kv_type_name(t);
    std::vector<float> ka(256), kb(256);
    for (int p = 35; p < 43; ++p) {
      a->read_k(0, 0, p, ka.data());
      b->read_k(0, 0, p, kb.data());
      EXPECT_EQ(ka, kb);
    }
  }
}

// Speculative rounds with a window of 8 and up to 3 drafts (max_batch 4): the ring of 8 + 4 + 1 entries is
// compared with a pool whose ring never wraps, after every random rollback.
TEST(KvPool, SlidingRingKeepsEverythingARolledBackDraftNeeds) {
  ThreadPool pool(1);
  auto ring = KvPool::create(test_slots(), opts(KvType::kTurbo4, KvType::kQ4_0, 200, 1, 4)).value();
  auto flat = KvPool::create(test_slots(), opts(KvType::kTurbo4, KvType::kQ4_0, 200, 1, 200)).value();
  EXPECT_EQ(ring->ring_entries(), 13);
  EXPECT_EQ(flat->ring_entries(), 200);
  std::mt19937 rng(9);
  ASSERT_TRUE(append(pool, *ring, 0, 0, {1}).ok());
  ASSERT_TRUE(append(pool, *flat, 0, 0, {1}).ok());
  int len = 1, token = 2;
  while (len + 4 < 200) {
    const std::vector<int> batch = range_tokens(4, token);  // the last committed token's successor + 3 drafts
    token += 4;
    ASSERT_TRUE(append(pool, *ring, 0, len - 1, batch).ok());  // re-writes the last committed position too
    ASSERT_TRUE(append(pool, *flat, 0, len - 1, batch).ok());
    const int accepted = 1 + static_cast<int>(rng() % 4);
    len = len - 1 + accepted;
    ASSERT_TRUE(ring->truncate(0, len).ok()) << len;
    ASSERT_TRUE(flat->truncate(0, len).ok());
    // Every position a next query (window 8) or the drafter (window + 1) reads is intact.
    ASSERT_EQ(probe(pool, *ring, 0, len, std::max(0, len - 2)), probe(pool, *flat, 0, len, std::max(0, len - 2)));
    std::vector<float> a(128), b(128);
    for (int p = std::max(0, len - 9); p < len; ++p) {
      ring->read_v(2, 0, p, a.data());
      flat->read_v(2, 0, p, b.data());
      ASSERT_EQ(a, b) << p;
    }
  }
  // Going back further than the ring allows is an error, not silent corruption.
  const auto st = ring->truncate(0, len - 10);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("overwritten"), std::string::npos);
  EXPECT_TRUE(ring->truncate(0, 0).ok());
}

TEST(KvPool, CopyPrefixSharesPagesAndCopiesOnWrite) {
  ThreadPool pool(2);
  auto p = KvPool::create(test_slots(), opts(KvType::kTurbo2, KvType::kBF16, 128, 3, 8)).value();
  auto ref = KvPool::create(test_slots(), opts(KvType::kTurbo2, KvType::kBF16, 128, 3, 8)).value();
  const int free0 = p->free_pages();
  ASSERT_TRUE(append(pool, *p, 0, 0, range_tokens(8, 10)).ok());
  ASSERT_TRUE(append(pool, *p, 0, 8, range_tokens(8, 18)).ok());
  ASSERT_TRUE(append(pool, *p, 0, 16, range_tokens(4, 26)).ok());  // 20 tokens: pages 0 and 1 (16 per page)
  EXPECT_EQ(p->free_pages(), free0 - 2);
  ASSERT_TRUE(p->copy_prefix(0, 1, 18).ok());
  EXPECT_EQ(p->free_pages(), free0 - 2);  // shared
  ASSERT_TRUE(append(pool, *p, 1, 18, range_tokens(3, 500)).ok());  // writes into shared page 1: copied
  EXPECT_EQ(p->free_pages(), free0 - 3);
  // Both sequences equal fresh histories.
  const std::vector<int> h0 = range_tokens(20, 10);
  std::vector<int> h1(h0.begin(), h0.begin() + 18);
  for (int t : range_tokens(3, 500)) h1.push_back(t);
  ASSERT_TRUE(append(pool, *ref, 0, 0, std::vector<int>(h0.begin(), h0.begin() + 8)).ok());
  ASSERT_TRUE(append(pool, *ref, 0, 8, std::vector<int>(h0.begin() + 8, h0.begin() + 16)).ok());
  ASSERT_TRUE(append(pool, *ref, 0, 16, std::vector<int>(h0.begin() + 16, h0.end())).ok());
  for (int i = 0; i < 21; i += 7) {
    ASSERT_TRUE(append(pool, *ref, 1, i, std::vector<int>(h1.begin() + i, h1.begin() + i + 7)).ok());
  }
  EXPECT_EQ(probe(pool, *p, 0, 20), probe(pool, *ref, 0, 20));
  EXPECT_EQ(probe(pool, *p, 1, 21), probe(pool, *ref, 1, 21));
  p->clear(0);
  p->clear(1);
  EXPECT_EQ(p->free_pages(), free0);
}

// Bytes per head vector as documented (turboquant.md §6.1 / docs/kv-cache.md), times entries.
TEST(KvPool, MemoryPerCodecMatchesDocumentedBytes) {
  struct Doc {
    KvType t;
    size_t d64, d128;
  };
  const std::vector<Doc> docs = {{KvType::kF32, 256, 512},  {KvType::kF16, 128, 256},   {KvType::kBF16, 128, 256},
                                 {KvType::kQ8_0, 68, 136},  {KvType::kQ4_0, 36, 72},    {KvType::kTurbo4, 34, 66},
                                 {KvType::kTurbo3, 26, 50}, {KvType::kTurbo2, 18, 34}};
  for (const Doc& k : docs) {
    for (const Doc& v : docs) {
      auto p = KvPool::create(test_slots(), opts(k.t, v.t, 256, 2, 8, 64)).value();
      // Sliding: 2 slots x 2 sequences x ring (8 + 8 + 1) x 2 heads of d 64; full: 2 x 4 pages x 64 x 1 head of d 128.
      const size_t sliding = 2 * 2 * 17 * 2 * (k.d64 + v.d64);
      const size_t full = 2 * 4 * 64 * 1 * (k.d128 + v.d128);
      // Recent window and sink (a block-quantized side): 3 slots x 2 sequences x (128 + 32) entries x f16 K and V
      // of 128 values.
      const bool quantized = is_block_quantized(k.t) || is_block_quantized(v.t);
      const size_t recent = quantized ? 3 * 2 * (128 + 32) * (128 * 2) * 2 : 0;
      EXPECT_EQ(p->recent_entries(), quantized ? 128 : 0);
      EXPECT_EQ(p->sink_positions(), quantized ? 32 : 0);
      EXPECT_EQ(p->bytes(), sliding + full + recent) << kv_type_name(k.t) << "/" << kv_type_name(v.t);
      EXPECT_EQ(p->bytes_per_token(1), k.d128 + v.d128);
      EXPECT_EQ(KvPool::required_bytes(test_slots(), opts(k.t, v.t, 256, 2, 8, 64)).value(), p->bytes());
    }
  }
}

TEST(KvPool, ContextFullIsAPerSequenceError) {
  ThreadPool pool(1);
  auto p = KvPool::create(test_slots(), opts(KvType::kF16, KvType::kF16, 20, 2, 8)).value();
  ASSERT_TRUE(append(pool, *p, 0, 0, range_tokens(8, 1)).ok());
  ASSERT_TRUE(append(pool, *p, 0, 8, range_tokens(8, 1)).ok());
  ASSERT_TRUE(append(pool, *p, 1, 0, range_tokens(8, 1)).ok());
  const Status st = append(pool, *p, 0, 16, range_tokens(5, 1));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kOutOfRange);
  EXPECT_NE(st.error().message().find("sequence 0 is full"), std::string::npos);
  EXPECT_EQ(p->length(0), 16);  // unchanged
  EXPECT_TRUE(append(pool, *p, 1, 8, range_tokens(8, 1)).ok());
  EXPECT_TRUE(append(pool, *p, 0, 16, range_tokens(4, 1)).ok());
}

TEST(KvPool, Errors) {
  ThreadPool pool(1);
  auto bad_dim = KvPool::create({{0, 2, 64, 8}, {7, 1, 96, 0}}, opts(KvType::kTurbo4, KvType::kF16, 64, 1, 8));
  ASSERT_FALSE(bad_dim.ok());
  EXPECT_NE(bad_dim.error().message().find("layer 7 K"), std::string::npos);
  auto big = KvPool::create(test_slots(), [] {
    auto o = opts(KvType::kF32, KvType::kF32, 1 << 20, 8, 8);
    o.max_bytes = size_t{1} << 30;
    return o;
  }());
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(big.error().message().find("-c"), std::string::npos);
  auto p = KvPool::create(test_slots(), opts(KvType::kF16, KvType::kF16, 64, 1, 4)).value();
  EXPECT_FALSE(append(pool, *p, 0, 1, {1}).ok());                    // gap
  EXPECT_FALSE(append(pool, *p, 0, 0, range_tokens(5, 1)).ok());     // more rows than max_batch
  EXPECT_FALSE(p->begin_batch(std::vector<KvRowRef>{{0, 0}, {0, 2}}).ok());  // not consecutive
  EXPECT_FALSE(p->begin_batch(std::vector<KvRowRef>{{1, 0}}).ok());  // no such sequence
  EXPECT_FALSE(p->truncate(0, 3).ok());                               // longer than the sequence
}

// The pool with f32 entries computes what the float32 reference cache computes (different kernels: close).
TEST(KvPool, F32MatchesSimpleCache) {
  ThreadPool pool(2);
  auto p = KvPool::create(test_slots(), opts(KvType::kF32, KvType::kF32, 64, 1, 64)).value();
  auto s = SimpleKvCache::create({{2, 64}, {1, 128}, {2, 64}}, 1, 64, size_t{1} << 30).value();
  ASSERT_TRUE(append(pool, *p, 0, 0, range_tokens(30, 3)).ok());
  ASSERT_TRUE(append(pool, s, 0, 0, range_tokens(30, 3)).ok());
  const auto a = probe(pool, *p, 0, 30), b = probe(pool, s, 0, 30);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f);
}

}  // namespace
}  // namespace specula::kv
