// Batches whose query rows also see LATER rows of the same batch (bidirectional image blocks of the Gemma 4
// 26B/31B text model, gemma4-spec.md §1.12): a row at p inside a block sees [p - W + 1, block_end]. The model
// writes the whole batch before any attention, so the caches need nothing new; these tests pin that down for
// the sliding ring (entries of the batch never overwrite one a query of the batch needs, even when a block is
// longer than the window and the ring wraps) against a pool whose ring never wraps, and the f32 pool against the
// float32 reference cache, for every codec.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kv/kv_pool.h"
#include "kv/simple_kv_cache.h"

namespace specula::kv {
namespace {

constexpr int kWindow = 8;
constexpr int kChunk = 12;  // rows per batch = the pool's max_batch: ring of 8 + 12 + 1 = 21 entries
constexpr int kLen = 84;    // seven batches: the ring wraps four times

std::vector<KvPoolSlot> slots() { return {{0, 2, 64, kWindow}, {1, 1, 128, 0}}; }

// Per batch c: one block of 9 rows (longer than the window) at positions 12c + 2 .. 12c + 10.
int block_end_of(int pos) {
  const int in = pos % kChunk;
  return in >= 2 && in <= 10 ? pos - in + 10 : -1;
}

void row_values(int slot, int pos, int width, std::vector<float>& k, std::vector<float>& v) {
  std::mt19937 rng(static_cast<uint32_t>(pos * 104729 + slot * 31 + 5));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  k.resize(static_cast<size_t>(width));
  v.resize(static_cast<size_t>(width));
  for (float& x : k) x = dist(rng) + 0.2f;
  for (float& x : v) x = dist(rng);
}

// Runs the batches through the cache as the model does (begin_batch, write every slot, then attention of every
// row of the batch) and returns all attention outputs.
std::vector<float> run(ThreadPool& pool, KvCache& c) {
  std::vector<float> all;
  for (int first = 0; first < kLen; first += kChunk) {
    std::vector<KvRowRef> rows;
    for (int p = first; p < first + kChunk; ++p) rows.push_back({0, p});
    EXPECT_TRUE(c.begin_batch(rows).ok());
    for (int slot = 0; slot < c.n_slots(); ++slot) {
      const int w = c.shape(slot).width();
      std::vector<float> ks, vs, k, v;
      for (const auto& r : rows) {
        row_values(slot, r.pos, w, k, v);
        ks.insert(ks.end(), k.begin(), k.end());
        vs.insert(vs.end(), v.begin(), v.end());
      }
      c.write(pool, slot, rows, ks.data(), vs.data());
    }
    for (int slot = 0; slot < c.n_slots(); ++slot) {
      const bool sliding = slot == 0;
      const KvSlotShape& s = c.shape(slot);
      const int n_heads = 2 * s.n_kv_heads;
      std::vector<AttnQuery> q_rows;
      for (const auto& r : rows) {
        const int last = sliding ? std::max(r.pos, block_end_of(r.pos)) : r.pos;
        q_rows.push_back({0, sliding ? std::max(0, r.pos - kWindow + 1) : 0, last});
      }
      std::vector<float> q(q_rows.size() * static_cast<size_t>(n_heads * s.head_dim));
      for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.31f * static_cast<float>(i) + static_cast<float>(first));
      std::vector<float> out(q.size());
      c.attention(pool, slot, n_heads, q_rows, q.data(), 0.15f, out.data());
      all.insert(all.end(), out.begin(), out.end());
    }
  }
  return all;
}

KvPoolOptions opts(KvType k, KvType v, int n_ctx, int max_batch) {
  KvPoolOptions o;
  o.type_k = k;
  o.type_v = v;
  o.n_ctx = n_ctx;
  o.max_batch = max_batch;
  o.page_tokens = 16;
  return o;
}

TEST(KvBlocks, RingEqualsUnwrappedPoolForEveryCodec) {
  ThreadPool pool(2);
  for (int t = 0; t < kNumKvTypes; ++t) {
    const auto type = static_cast<KvType>(t);
    auto ring = KvPool::create(slots(), opts(type, type, 4 * kLen, kChunk));
    ASSERT_TRUE(ring.ok()) << ring.error().message();
    EXPECT_EQ(ring.value()->ring_entries(), kWindow + kChunk + 1);
    auto flat = KvPool::create(slots(), opts(type, type, kLen, 4 * kLen));  // ring = n_ctx: never wraps
    ASSERT_TRUE(flat.ok());
    EXPECT_EQ(flat.value()->ring_entries(), kLen);
    const auto a = run(pool, *ring.value()), b = run(pool, *flat.value());
    ASSERT_EQ(a.size(), b.size());
    float worst = 0;
    for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    EXPECT_LE(worst, 1e-6f) << kv_type_name(type);
  }
}

// Obvious double-precision attention straight from row_values: the expected outputs of run().
std::vector<float> oracle() {
  std::vector<float> all;
  for (int first = 0; first < kLen; first += kChunk) {
    for (int slot = 0; slot < 2; ++slot) {
      const bool sliding = slot == 0;
      const int n_kv = sliding ? 2 : 1, d = sliding ? 64 : 128, n_heads = 2 * n_kv, w = n_kv * d;
      std::vector<float> k, v;
      for (int p = first; p < first + kChunk; ++p) {
        const int lo = sliding ? std::max(0, p - kWindow + 1) : 0;
        const int hi = sliding ? std::max(p, block_end_of(p)) : p;
        for (int h = 0; h < n_heads; ++h) {
          const size_t q0 = (static_cast<size_t>(p - first) * static_cast<size_t>(n_heads) + static_cast<size_t>(h)) *
                            static_cast<size_t>(d);
          const int kh = h / 2;
          std::vector<double> score, acc(static_cast<size_t>(d), 0.0);
          for (int j = lo; j <= hi; ++j) {
            row_values(slot, j, w, k, v);
            double s = 0;
            for (int i = 0; i < d; ++i) {
              const float q = std::sin(0.31f * static_cast<float>(q0 + static_cast<size_t>(i)) + static_cast<float>(first));
              s += static_cast<double>(q) * static_cast<double>(k[static_cast<size_t>(kh * d + i)]);
            }
            score.push_back(0.15 * s);
          }
          const double m = *std::max_element(score.begin(), score.end());
          double sum = 0;
          for (double& s : score) sum += (s = std::exp(s - m));
          for (int j = lo; j <= hi; ++j) {
            row_values(slot, j, w, k, v);
            const double p_j = score[static_cast<size_t>(j - lo)] / sum;
            for (int i = 0; i < d; ++i) acc[static_cast<size_t>(i)] += p_j * static_cast<double>(v[static_cast<size_t>(kh * d + i)]);
          }
          for (double x : acc) all.push_back(static_cast<float>(x));
        }
      }
    }
  }
  return all;
}

TEST(KvBlocks, F32CachesMatchTheOracle) {
  ThreadPool pool(2);
  const auto want = oracle();
  auto ring = KvPool::create(slots(), opts(KvType::kF32, KvType::kF32, kLen, kChunk)).value();
  auto simple = SimpleKvCache::create({{2, 64}, {1, 128}}, 1, kLen, size_t{1} << 30).value();
  const auto a = run(pool, *ring), b = run(pool, simple);
  ASSERT_EQ(a.size(), want.size());
  ASSERT_EQ(b.size(), want.size());
  float err_a = 0, err_b = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err_a = std::max(err_a, std::abs(a[i] - want[i]));
    err_b = std::max(err_b, std::abs(b[i] - want[i]));
  }
  EXPECT_LE(err_a, 1e-5f);
  EXPECT_LE(err_b, 1e-5f);
}

// A batch with more rows per sequence than the pool's max_batch is an error (so a too-small max_batch can never
// overwrite entries a block's rows still need): callers raise max_batch to the longest image block.
TEST(KvBlocks, BatchAboveMaxBatchIsAnError) {
  auto p = KvPool::create(slots(), opts(KvType::kF16, KvType::kF16, kLen, kChunk)).value();
  std::vector<KvRowRef> rows;
  for (int i = 0; i <= kChunk; ++i) rows.push_back({0, i});
  const auto st = p->begin_batch(rows);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("maximum"), std::string::npos) << st.error().message();
}

}  // namespace
}  // namespace specula::kv
