// KvPool sink (kv_pool_sink.cpp): positions [0, N) are read from f16 copies with raw keys, later keys are stored
// centered on the mean of the sink's keys 1..N-1, and attention mixes both with one softmax shift. Expected
// values are built independently from the codecs and the scalar oracle; invariance tests compare bitwise.
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

constexpr int kSink = 8;
constexpr int kRecent = 8;

// Keys: a common part plus noise, position 0 an outlier (the attention sink real models have at BOS).
Data make_data(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> common(kDim);
  for (float& c : common) c = 4.0f * g(rng);
  Data d;
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < kDim; ++i) d.k.push_back(t == 0 ? 12.0f * g(rng) : common[static_cast<size_t>(i)] + g(rng));
    for (int i = 0; i < kDim; ++i) d.v.push_back(g(rng));
  }
  for (int i = 0; i < kHeads * kDim; ++i) d.q.push_back(g(rng));
  return d;
}

std::unique_ptr<KvPool> pool_with(KvType k, int n_seq, int n_ctx, int sink) {
  return one_head::pool(k, n_seq, n_ctx, kRecent, sink);
}




// The expected attention of a query at `last` after every position was written: sink entries f16 raw, then
// packed entries of k - c, then the window's f16 copies of k - c (storage domains), c = mean of sink keys 1..N-1
// as f16 values, and the oracle subtracting q · c from the raw entries when centered ones are present.
std::vector<float> expected(const Data& d, int last) {
  const KvCodec kc = KvCodec::create(KvType::kTurbo4, kDim, layer_rotation_seed(kDefaultRotationSeed, 0), "K").value();
  const KvCodec vc = KvCodec::create(KvType::kF32, kDim, 0, "V").value();
  const KvCodec h16 = KvCodec::create(KvType::kF16, kDim, 0, "R").value();
  std::vector<float> x(kDim), c_s(kDim, 0.0f), c_o(kDim);
  std::vector<uint8_t> sk(kSink * h16.head_bytes()), sv(sk.size()), pk, pv, rk, rv;
  std::vector<double> sum(kDim, 0.0);
  for (int t = 0; t < kSink; ++t) {
    std::copy_n(d.k.begin() + t * kDim, kDim, x.begin());
    kc.to_storage(x.data());
    h16.encode(x.data(), sk.data() + static_cast<size_t>(t) * h16.head_bytes());
    h16.decode(sk.data() + static_cast<size_t>(t) * h16.head_bytes(), x.data());
    for (int i = 0; i < kDim && t > 0; ++i) sum[static_cast<size_t>(i)] += double{x[static_cast<size_t>(i)]};
    h16.encode(d.v.data() + static_cast<size_t>(t) * kDim, sv.data() + static_cast<size_t>(t) * h16.head_bytes());
  }
  for (int i = 0; i < kDim; ++i) c_s[static_cast<size_t>(i)] = static_cast<float>(sum[static_cast<size_t>(i)] / (kSink - 1));
  c_o = c_s;
  kc.to_original(c_o.data());
  const int split = std::max(kSink, last - kRecent + 1);
  for (int t = kSink; t <= last; ++t) {
    for (int i = 0; i < kDim; ++i) x[static_cast<size_t>(i)] = d.k[static_cast<size_t>(t * kDim + i)] - c_o[static_cast<size_t>(i)];
    const float* v = d.v.data() + static_cast<size_t>(t) * kDim;
    auto& kb = t < split ? pk : rk;
    auto& vb = t < split ? pv : rv;
    const KvCodec& kcod = t < split ? kc : h16;
    const KvCodec& vcod = t < split ? vc : h16;
    if (t >= split) kc.to_storage(x.data());
    kb.resize(kb.size() + kcod.head_bytes());
    kcod.encode(x.data(), kb.data() + kb.size() - kcod.head_bytes());
    vb.resize(vb.size() + vcod.head_bytes());
    vcod.encode(v, vb.data() + vb.size() - vcod.head_bytes());
  }
  std::vector<KvRun> runs = {{sk.data(), sv.data(), std::min(last, kSink - 1) + 1, true, true}};
  if (split > kSink && last >= kSink) runs.push_back({pk.data(), pv.data(), std::min(split, last + 1) - kSink, false});
  if (last >= split) runs.push_back({rk.data(), rv.data(), last - split + 1, true});
  const std::vector<uint32_t> begin = {0, static_cast<uint32_t>(runs.size())};
  const std::vector<const float*> shift = {last >= kSink ? c_s.data() : nullptr};
  PackedSlot slot{&kc, &vc, 1, kc.head_bytes(), vc.head_bytes()};
  slot.k_recent = &h16;
  slot.v_recent = &h16;
  slot.recent_stride = h16.head_bytes();
  std::vector<float> out(kHeads * kDim);
  ref::packed_attention(slot, kHeads, PackedRows{runs, begin, shift}, d.q.data(), 0.05f, out.data());
  return out;
}

TEST(KvSink, AttentionEqualsTheIndependentConstruction) {
  ThreadPool tp(2);
  constexpr int n = 40;
  const Data d = make_data(n, 21);
  for (int last : {3, kSink - 1, kSink, 12, 20, n - 1}) {
    SCOPED_TRACE(last);
    auto p = pool_with(KvType::kTurbo4, 1, n, kSink);
    ASSERT_EQ(p->sink_positions(), kSink);
    append(tp, *p, 0, 0, last + 1, d);
    EXPECT_LT(max_diff(attend(tp, *p, 0, last, d), expected(d, last)), 2e-5);
  }
}

// Token by token, in batches of 5 (one crosses the sink's end) and in one batch: bitwise the same outputs.
// Truncating into the sink and appending other keys equals a fresh pool; copy_prefix carries sink and center.
TEST(KvSink, ChunkingTruncationAndCopyAreInvariant) {
  ThreadPool tp(2);
  constexpr int n = 40;
  const Data a = make_data(n, 22), b = make_data(n, 23);
  auto one = pool_with(KvType::kTurbo3, 1, n, kSink), steps = pool_with(KvType::kTurbo3, 1, n, kSink);
  auto fives = pool_with(KvType::kTurbo3, 2, n, kSink);
  append(tp, *one, 0, 0, n, a);
  // Queries are made while their batch is the latest one (the recent window's copies follow the batches).
  for (int t = 0; t < n; ++t) {
    if (t % 5 == 0) append(tp, *fives, 0, t, 5, a);
    append(tp, *steps, 0, t, 1, a);
    const std::vector<float> got = attend(tp, *steps, 0, t, a);
    if (t % 5 == 4) {
      EXPECT_EQ(max_diff(got, attend(tp, *fives, 0, t, a)), 0.0) << t;
    }
    if (t == n - 1) {
      EXPECT_EQ(max_diff(got, attend(tp, *one, 0, t, a)), 0.0);
    }
  }
  ASSERT_TRUE(fives->copy_prefix(0, 1, n).ok());
  EXPECT_EQ(max_diff(attend(tp, *fives, 1, n - 1, a), attend(tp, *one, 0, n - 1, a)), 0.0);
  Data mixed = a;  // a's first 5 positions, then b's
  std::copy(b.k.begin() + 5 * kDim, b.k.end(), mixed.k.begin() + 5 * kDim);
  std::copy(b.v.begin() + 5 * kDim, b.v.end(), mixed.v.begin() + 5 * kDim);
  ASSERT_TRUE(one->truncate(0, 5).ok());
  append(tp, *one, 0, 5, n - 5, mixed);
  auto fresh = pool_with(KvType::kTurbo3, 1, n, kSink);
  append(tp, *fresh, 0, 0, n, mixed);
  EXPECT_EQ(max_diff(attend(tp, *one, 0, n - 1, mixed), attend(tp, *fresh, 0, n - 1, mixed)), 0.0);
}

TEST(KvSink, ReadKAndReadV) {
  ThreadPool tp(1);
  constexpr int n = 30;
  const Data d = make_data(n, 24);
  auto p = pool_with(KvType::kTurbo4, 1, n, kSink);
  append(tp, *p, 0, 0, n, d);
  std::vector<float> k(kDim), v(kDim);
  for (int t = 0; t < n; ++t) {
    p->read_k(0, 0, t, k.data());
    p->read_v(0, 0, t, v.data());
    double err = 0.0, norm = 0.0, verr = 0.0;
    for (int i = 0; i < kDim; ++i) {
      const size_t j = static_cast<size_t>(t) * kDim + static_cast<size_t>(i);
      err += std::pow(double{k[static_cast<size_t>(i)]} - double{d.k[j]}, 2);
      norm += std::pow(double{d.k[j]}, 2);
      verr = std::max(verr, std::fabs(double{v[static_cast<size_t>(i)]} - double{d.v[j]}));
    }
    // Sink: f16 in the rotated domain and back (a few f16 ulps of the norm); later: 4-bit error of k - c.
    EXPECT_LE(std::sqrt(err), (t < kSink ? 2e-3 : 0.15) * std::sqrt(norm)) << "position " << t;
    EXPECT_LE(verr, t < kSink ? 5e-3 : 1e-6) << "position " << t;  // V: f16 sink copy, else f32
  }
}

// What the sink is for: with an outlier first key, the mean center and the exact sink beat centering on k_0.
TEST(KvSink, BeatsCenteringOnTheFirstKey) {
  ThreadPool tp(2);
  constexpr int n = 64;
  const Data d = make_data(n, 25);
  auto exact = SimpleKvCache::create({{1, kDim}}, 1, n, size_t{1} << 30).value();
  append(tp, exact, 0, 0, n, d);
  for (KvType t : {KvType::kTurbo4, KvType::kTurbo3}) {
    auto with = pool_with(t, 1, n, kSink), without = pool_with(t, 1, n, 0);
    append(tp, *with, 0, 0, n, d);
    append(tp, *without, 0, 0, n, d);
    const std::vector<float> want = attend(tp, exact, 0, n - 1, d);
    const double e_with = max_diff(attend(tp, *with, 0, n - 1, d), want);
    const double e_without = max_diff(attend(tp, *without, 0, n - 1, d), want);
    EXPECT_LT(e_with * 2.0, e_without) << kv_type_name(t) << ": sink " << e_with << ", first key " << e_without;
  }
}

// Key scale (KvPoolSlot::k_scale): queries whose energy sits in a few channels, keys whose energy sits elsewhere.
// Storing k * s and querying with q / s, s = sqrt(e_q / e_k), must keep attention exact up to the codec (read_k
// gives k back), stay bitwise chunk-invariant, and beat the unscaled cache against exact attention.
struct Skewed {
  Data d;
  std::vector<float> scale;
};

Skewed skewed_data(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Skewed s;
  std::vector<float> eq(kDim), ek(kDim);
  for (int j = 0; j < kDim; ++j) {
    eq[static_cast<size_t>(j)] = j % 16 == 0 ? 8.0f : 0.25f;  // a few channels carry the queries
    ek[static_cast<size_t>(j)] = j % 16 == 0 ? 0.25f : 1.0f;  // where the keys are small
    s.scale.push_back(std::sqrt(eq[static_cast<size_t>(j)] / ek[static_cast<size_t>(j)]));
  }
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < kDim; ++j) s.d.k.push_back(ek[static_cast<size_t>(j)] * g(rng));
    for (int j = 0; j < kDim; ++j) s.d.v.push_back(g(rng));
  }
  for (int h = 0; h < kHeads; ++h) {
    for (int j = 0; j < kDim; ++j) s.d.q.push_back(eq[static_cast<size_t>(j)] * g(rng));
  }
  return s;
}

std::unique_ptr<KvPool> scaled_pool(KvType k, int n_ctx, std::vector<float> scale, int recent = kRecent) {
  return one_head::pool(k, 1, n_ctx, recent, recent > 0 ? kSink : 0, std::move(scale));
}

TEST(KvKeyScale, ExactUpToTheCodecInvariantAndBetter) {
  ThreadPool tp(2);
  constexpr int n = 48;
  const Skewed s = skewed_data(n, 31);
  auto exact = SimpleKvCache::create({{1, kDim}}, 1, n, size_t{1} << 30).value();
  append(tp, exact, 0, 0, n, s.d);
  for (KvType t : {KvType::kTurbo4, KvType::kTurbo3, KvType::kQ4_0}) {
    SCOPED_TRACE(kv_type_name(t));
    // No window or sink: every key goes through the codec.
    auto with = scaled_pool(t, n, s.scale, 0), without = scaled_pool(t, n, {}, 0);
    append(tp, *with, 0, 0, n, s.d);
    append(tp, *without, 0, 0, n, s.d);
    const std::vector<float> want = attend(tp, exact, 0, n - 1, s.d);
    const double e_with = max_diff(attend(tp, *with, 0, n - 1, s.d), want);
    const double e_without = max_diff(attend(tp, *without, 0, n - 1, s.d), want);
    EXPECT_LT(e_with * 2.0, e_without) << "scaled " << e_with << ", unscaled " << e_without;
    std::vector<float> k(kDim);
    for (int p = 0; p < n; p += 7) {
      with->read_k(0, 0, p, k.data());
      double err = 0.0, norm = 0.0;
      for (int i = 0; i < kDim; ++i) {
        const double ref = s.d.k[static_cast<size_t>(p * kDim + i)];
        err += std::pow((double{k[static_cast<size_t>(i)]} - ref) * double{s.scale[static_cast<size_t>(i)]}, 2);
        norm += std::pow(ref * double{s.scale[static_cast<size_t>(i)]}, 2);
      }
      EXPECT_LE(std::sqrt(err), 0.35 * std::sqrt(norm)) << "position " << p;  // the codec's error, in the scaled domain
    }
  }
  // With the sink and window: token by token equals one batch, bitwise.
  auto one = scaled_pool(KvType::kTurbo4, n, s.scale), steps = scaled_pool(KvType::kTurbo4, n, s.scale);
  append(tp, *one, 0, 0, n, s.d);
  for (int t = 0; t < n; ++t) append(tp, *steps, 0, t, 1, s.d);
  EXPECT_EQ(max_diff(attend(tp, *one, 0, n - 1, s.d), attend(tp, *steps, 0, n - 1, s.d)), 0.0);
}

TEST(KvKeyScale, BadScalesAreRefused) {
  KvPoolOptions o;
  o.type_k = KvType::kTurbo4;
  o.n_ctx = 16;
  for (const std::vector<float>& bad : {std::vector<float>(kDim - 1, 1.0f), std::vector<float>(kDim, 0.0f),
                                         std::vector<float>(kDim, -1.0f), std::vector<float>(kDim, NAN)}) {
    EXPECT_FALSE(KvPool::create({{3, 1, kDim, 0, bad}}, o).ok());
  }
  o.type_k = KvType::kF16;  // not block-quantized: the scale is not used
  EXPECT_TRUE(KvPool::create({{3, 1, kDim, 0, std::vector<float>(kDim, 2.0f)}}, o).ok());
}

}  // namespace
}  // namespace specula::kv
