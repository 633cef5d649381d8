// KvPool key centering (centers_keys in kv_type.h) without a sink: quantized K types store k - k_0 (the
// sequence's first key); kv_sink_test.cpp covers the sink's mean center. Attention must equal exact attention
// better than an uncentered encoding of the same keys does when the keys share a large common component, read_k
// must give back the original keys, and the center must follow the sequence through copy_prefix and a truncation
// to 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kv/attention.h"
#include "kv/kv_pool.h"
#include "kv/simple_kv_cache.h"
#include "one_head_pool.h"

namespace specula::kv {
namespace {

using one_head::append;
using one_head::attend;
using one_head::Data;
using one_head::kDim;
using one_head::kHeads;
using one_head::max_diff;

// Keys: a common vector of norm ~90 plus unit noise (the structure Gemma-family keys have after k_norm).
Data make_data(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> common(kDim);
  for (float& c : common) c = 8.0f * g(rng);
  Data d;
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < kDim; ++i) d.k.push_back(common[static_cast<size_t>(i)] + g(rng));
    for (int i = 0; i < kDim; ++i) d.v.push_back(g(rng));
  }
  for (int i = 0; i < kHeads * kDim; ++i) d.q.push_back(g(rng));
  return d;
}

// recent 0: every entry is read from the packed (centered) storage; no sink: the first key is the center
// (kv_sink_test.cpp: the sink's mean center).
std::unique_ptr<KvPool> pool_with(KvType k, int n_seq, int n_ctx, int recent = 0) {
  return one_head::pool(k, n_seq, n_ctx, recent, 0);
}




// The same keys encoded without centering, attended by the scalar oracle.
std::vector<float> uncentered(KvType type, int n, const Data& d) {
  const KvCodec kc = KvCodec::create(type, kDim, layer_rotation_seed(kDefaultRotationSeed, 0), "K").value();
  const KvCodec vc = KvCodec::create(KvType::kF32, kDim, 0, "V").value();
  std::vector<uint8_t> kb(static_cast<size_t>(n) * kc.head_bytes()), vb(static_cast<size_t>(n) * vc.head_bytes());
  for (int t = 0; t < n; ++t) {
    kc.encode(d.k.data() + static_cast<size_t>(t) * kDim, kb.data() + static_cast<size_t>(t) * kc.head_bytes());
    vc.encode(d.v.data() + static_cast<size_t>(t) * kDim, vb.data() + static_cast<size_t>(t) * vc.head_bytes());
  }
  const std::vector<KvRun> runs = {{kb.data(), vb.data(), n}};
  const std::vector<uint32_t> begin = {0, 1};
  const PackedSlot slot{&kc, &vc, 1, kc.head_bytes(), vc.head_bytes()};
  std::vector<float> out(kHeads * kDim);  // the oracle rotates the queries itself
  ref::packed_attention(slot, kHeads, PackedRows{runs, begin, {}}, d.q.data(), 0.05f, out.data());
  return out;
}

TEST(KvCenter, WhichTypesCenter) {
  for (KvType t : {KvType::kQ8_0, KvType::kQ4_0, KvType::kTurbo2, KvType::kTurbo3, KvType::kTurbo4}) {
    EXPECT_TRUE(centers_keys(t)) << kv_type_name(t);
  }
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kBF16}) EXPECT_FALSE(centers_keys(t)) << kv_type_name(t);
}

TEST(KvCenter, CenteredAttentionBeatsUncenteredOnKeysWithACommonPart) {
  ThreadPool tp(2);
  constexpr int n = 40;
  const Data d = make_data(n, 3);
  auto exact = SimpleKvCache::create({{1, kDim}}, 1, n, size_t{1} << 30).value();
  append(tp, exact, 0, 0, n, d);
  const std::vector<float> want = attend(tp, exact, 0, n - 1, d);
  for (KvType t : {KvType::kTurbo4, KvType::kTurbo3, KvType::kQ4_0}) {
    auto p = pool_with(t, 1, n);
    append(tp, *p, 0, 0, n, d);
    const double centered = max_diff(attend(tp, *p, 0, n - 1, d), want);
    const double plain = max_diff(uncentered(t, n, d), want);
    EXPECT_LT(centered * 2.5, plain) << kv_type_name(t) << ": centered " << centered << ", uncentered " << plain;
  }
}

TEST(KvCenter, ReadKReturnsTheOriginalKeys) {
  ThreadPool tp(1);
  constexpr int n = 12;
  const Data d = make_data(n, 5);
  auto p = pool_with(KvType::kTurbo4, 1, n);
  append(tp, *p, 0, 0, 5, d);
  append(tp, *p, 0, 5, n - 5, d);  // a second batch uses the center recorded by the first
  std::vector<float> k(kDim);
  for (int t = 0; t < n; ++t) {
    p->read_k(0, 0, t, k.data());
    double err = 0.0, spread = 0.0;
    for (int i = 0; i < kDim; ++i) {
      const size_t j = static_cast<size_t>(t) * kDim + static_cast<size_t>(i);
      err += std::pow(double{k[static_cast<size_t>(i)]} - double{d.k[j]}, 2);
      spread += std::pow(double{d.k[j]} - double{d.k[static_cast<size_t>(i)]}, 2);
    }
    // 4-bit codec error is ~10% of the stored vector's norm, and the stored vector is k - k_0.
    EXPECT_LE(std::sqrt(err), 0.15 * std::sqrt(spread) + 1e-6) << "position " << t;
  }
}

TEST(KvCenter, CenterFollowsCopyPrefixAndRestarts) {
  ThreadPool tp(1);
  constexpr int n = 20;
  const Data a = make_data(n, 7), b = make_data(n, 8);
  auto p = pool_with(KvType::kTurbo4, 2, n);
  append(tp, *p, 0, 0, n, a);
  ASSERT_TRUE(p->copy_prefix(0, 1, n).ok());
  EXPECT_EQ(max_diff(attend(tp, *p, 1, n - 1, a), attend(tp, *p, 0, n - 1, a)), 0.0);
  // Restart sequence 0 with other keys: the center becomes b's first key, as in a fresh pool.
  ASSERT_TRUE(p->truncate(0, 0).ok());
  append(tp, *p, 0, 0, n, b);
  auto fresh = pool_with(KvType::kTurbo4, 1, n);
  append(tp, *fresh, 0, 0, n, b);
  EXPECT_EQ(max_diff(attend(tp, *p, 0, n - 1, b), attend(tp, *fresh, 0, n - 1, b)), 0.0);
  std::vector<float> k0(kDim);
  p->read_k(0, 0, 0, k0.data());
  for (int i = 0; i < kDim; ++i) EXPECT_EQ(k0[static_cast<size_t>(i)], b.k[static_cast<size_t>(i)]);  // stored as 0 + k_0
}

// The recent window: a query at p reads positions (p - R, p] from f16 copies of the centered, rotated
// vectors and older ones from the packed entries. Expected values built independently with the codecs and
// the scalar oracle.
TEST(KvRecent, QueriesReadTheWindowFromF16CopiesAndTheRestPacked) {
  ThreadPool tp(2);
  constexpr int n = 50, R = 16;
  const Data d = make_data(n, 9);
  auto p = pool_with(KvType::kTurbo4, 1, n, R);
  const KvCodec kc = KvCodec::create(KvType::kTurbo4, kDim, layer_rotation_seed(kDefaultRotationSeed, 0), "K").value();
  const KvCodec vc = KvCodec::create(KvType::kF32, kDim, 0, "V").value();
  const KvCodec h16 = KvCodec::create(KvType::kF16, kDim, 0, "R").value();
  // Queries are made while their batch is the latest one, as the model makes them: the first three read the
  // staged rows of batch 0..19, the last two the ring (committed 4..19) and the staged rows of batch 20..49.
  append(tp, *p, 0, 0, 20, d);
  for (int last : {5, 15, 16, 30, n - 1}) {
    SCOPED_TRACE(last);
    if (last == 30) append(tp, *p, 0, 20, n - 20, d);
    const int split = std::max(0, last - R + 1);
    std::vector<uint8_t> kb, vb, rk, rv;
    std::vector<float> x(kDim);
    for (int t = 0; t <= last; ++t) {
      for (int i = 0; i < kDim; ++i) x[static_cast<size_t>(i)] = d.k[static_cast<size_t>(t * kDim + i)] - d.k[static_cast<size_t>(i)];
      const float* v = d.v.data() + static_cast<size_t>(t) * kDim;
      if (t < split) {
        kb.resize(kb.size() + kc.head_bytes());
        kc.encode(x.data(), kb.data() + kb.size() - kc.head_bytes());
        vb.resize(vb.size() + vc.head_bytes());
        vc.encode(v, vb.data() + vb.size() - vc.head_bytes());
      } else {
        kc.to_storage(x.data());
        rk.resize(rk.size() + h16.head_bytes());
        h16.encode(x.data(), rk.data() + rk.size() - h16.head_bytes());
        rv.resize(rv.size() + h16.head_bytes());
        h16.encode(v, rv.data() + rv.size() - h16.head_bytes());
      }
    }
    std::vector<KvRun> runs;
    if (split > 0) runs.push_back({kb.data(), vb.data(), split, false});
    runs.push_back({rk.data(), rv.data(), last - split + 1, true});
    const std::vector<uint32_t> begin = {0, static_cast<uint32_t>(runs.size())};
    PackedSlot slot{&kc, &vc, 1, kc.head_bytes(), vc.head_bytes()};
    slot.k_recent = &h16;
    slot.v_recent = &h16;
    slot.recent_stride = h16.head_bytes();
    std::vector<float> want(kHeads * kDim);
    ref::packed_attention(slot, kHeads, PackedRows{runs, begin, {}}, d.q.data(), 0.05f, want.data());
    EXPECT_LT(max_diff(attend(tp, *p, 0, last, d), want), 2e-5);
  }
}

// The window lowers the error against exact attention (what it is for), and token-by-token appends give
// bitwise the results of one batch (the split depends only on the query's position).
TEST(KvRecent, BeatsNoWindowAndIsChunkInvariant) {
  ThreadPool tp(2);
  constexpr int n = 64;
  const Data d = make_data(n, 10);
  auto exact = SimpleKvCache::create({{1, kDim}}, 1, n, size_t{1} << 30).value();
  append(tp, exact, 0, 0, n, d);
  auto with = pool_with(KvType::kTurbo3, 1, n, 24), without = pool_with(KvType::kTurbo3, 1, n, 0);
  auto steps = pool_with(KvType::kTurbo3, 1, n, 24);
  append(tp, *with, 0, 0, n, d);
  append(tp, *without, 0, 0, n, d);
  std::vector<std::vector<float>> step_out(n);  // each position queried right after it was appended
  for (int t = 0; t < n; ++t) {
    append(tp, *steps, 0, t, 1, d);
    step_out[static_cast<size_t>(t)] = attend(tp, *steps, 0, t, d);
  }
  for (int last : {10, 40, n - 1}) {
    const std::vector<float> want = attend(tp, exact, 0, last, d);
    // All inside the window (last 10): f16 precision, far better than 3 bits; otherwise better by its share.
    const double factor = last < 24 ? 10.0 : 1.0;
    EXPECT_LT(max_diff(attend(tp, *with, 0, last, d), want) * factor, max_diff(attend(tp, *without, 0, last, d), want))
        << "last " << last;
    EXPECT_EQ(max_diff(attend(tp, *with, 0, last, d), step_out[static_cast<size_t>(last)]), 0.0);
  }
}

// Going back further than the ring keeps copies: the lost positions are read packed (never stale copies).
TEST(KvRecent, DeepTruncationFallsBackToPackedEntries) {
  ThreadPool tp(1);
  constexpr int n = 60, R = 8;
  const Data a = make_data(n, 11), b = make_data(n, 12);
  KvPoolOptions o;
  o.type_k = KvType::kTurbo4;
  o.type_v = KvType::kF32;
  o.n_ctx = n;
  o.max_batch = 4;
  o.recent = R;
  o.sink = 0;
  auto p = KvPool::create({{0, 1, kDim, 0}}, o).value();
  for (int t = 0; t < n; t += 4) append(tp, *p, 0, t, 4, a);
  ASSERT_EQ(p->recent_entries(), R);
  ASSERT_TRUE(p->truncate(0, 20).ok());  // copies of 8..19 were overwritten long ago
  Data mixed = a;
  std::copy(b.k.begin() + 20 * kDim, b.k.end(), mixed.k.begin() + 20 * kDim);
  std::copy(b.v.begin() + 20 * kDim, b.v.end(), mixed.v.begin() + 20 * kDim);
  append(tp, *p, 0, 20, 4, mixed);
  auto ref = pool_with(KvType::kTurbo4, 1, n, 0);  // everything packed
  append(tp, *ref, 0, 0, 24, mixed);
  auto exact = SimpleKvCache::create({{1, kDim}}, 1, n, size_t{1} << 30).value();
  append(tp, exact, 0, 0, 24, mixed);
  const std::vector<float> got = attend(tp, *p, 0, 23, mixed);
  // Positions 20..23 come from fresh copies, 0..19 packed: closer to exact than all-packed, never stale.
  EXPECT_LE(max_diff(got, attend(tp, exact, 0, 23, mixed)), max_diff(attend(tp, *ref, 0, 23, mixed), attend(tp, exact, 0, 23, mixed)) + 1e-6);
}

}  // namespace
}  // namespace specula::kv
