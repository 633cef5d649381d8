// Packed-cache attention: the CPU kernel (every supported ISA) against the scalar oracle, the oracle against
// brute-force attention over original-domain (decoded and un-rotated) K/V, exact SIMD decoding, and batch /
// thread invariance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kv/attention.h"

namespace specula::kv {
namespace {

// A contiguous packed store of n entries with random K/V, and query rows over sub-ranges split into runs.
struct Fixture {
  KvCodec kc, vc;
  int n_kv_heads = 0, n_heads = 0, d = 0;
  std::vector<uint8_t> k, v;
  PackedSlot slot;
  std::vector<KvRun> runs;
  std::vector<uint32_t> run_begin{0};
  std::vector<float> q;

  Fixture(KvType kt, KvType vt, int d_, int n_kv, int n_h, int n, uint64_t seed) : n_kv_heads(n_kv), n_heads(n_h), d(d_) {
    kc = KvCodec::create(kt, d, 1234, "k").value();
    vc = KvCodec::create(vt, d, 1234, "v").value();
    slot = {&kc, &vc, n_kv, static_cast<size_t>(n_kv) * kc.head_bytes(), static_cast<size_t>(n_kv) * vc.head_bytes()};
    k.resize(slot.k_stride * static_cast<size_t>(n));
    v.resize(slot.v_stride * static_cast<size_t>(n));
    std::mt19937 rng(static_cast<uint32_t>(seed));
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(d));
    for (int e = 0; e < n; ++e) {
      for (int h = 0; h < n_kv; ++h) {
        for (auto& xi : x) xi = dist(rng) + 0.5f;  // an offset, as real keys have
        kc.encode(x.data(), k.data() + static_cast<size_t>(e) * slot.k_stride + static_cast<size_t>(h) * kc.head_bytes());
        for (auto& xi : x) xi = dist(rng);
        vc.encode(x.data(), v.data() + static_cast<size_t>(e) * slot.v_stride + static_cast<size_t>(h) * vc.head_bytes());
      }
    }
  }

  // A row over entries [first, last], cut into runs of random lengths (pages, ring wrap).
  void add_row(int first, int last, std::mt19937& rng, float q_scale) {
    int e = first;
    while (e <= last) {
      const int len = std::min(last - e + 1, 1 + static_cast<int>(rng() % 70));
      runs.push_back({k.data() + static_cast<size_t>(e) * slot.k_stride, v.data() + static_cast<size_t>(e) * slot.v_stride, len});
      e += len;
    }
    run_begin.push_back(static_cast<uint32_t>(runs.size()));
    std::normal_distribution<float> dist(0.0f, q_scale);
    for (int i = 0; i < n_heads * d; ++i) q.push_back(dist(rng));
  }

  std::vector<const float*> shifts;  // per row when any row has a key shift

  PackedRows rows() const { return {runs, run_begin, shifts}; }
  size_t out_size() const { return (run_begin.size() - 1) * static_cast<size_t>(n_heads * d); }
};

const std::vector<std::pair<KvType, KvType>>& pairs() {
  static const std::vector<std::pair<KvType, KvType>> kPairs = {
      {KvType::kF32, KvType::kF32},       {KvType::kF16, KvType::kF16},       {KvType::kBF16, KvType::kBF16},
      {KvType::kQ8_0, KvType::kQ8_0},     {KvType::kQ4_0, KvType::kQ4_0},     {KvType::kTurbo4, KvType::kTurbo4},
      {KvType::kTurbo3, KvType::kTurbo3}, {KvType::kTurbo2, KvType::kTurbo2}, {KvType::kTurbo4, KvType::kTurbo2},
      {KvType::kQ8_0, KvType::kTurbo3},   {KvType::kTurbo3, KvType::kF16},    {KvType::kF32, KvType::kTurbo4},
  };
  return kPairs;
}

std::vector<KvIsa> isas() {
  std::vector<KvIsa> out;
  for (KvIsa i : {KvIsa::kScalar, KvIsa::kAvx2, KvIsa::kAvx512}) {
    if (kv_isa_supported(i)) out.push_back(i);
  }
  return out;
}

const KvSimd& simd_for(KvIsa isa) {
  return isa == KvIsa::kScalar ? kv_simd_scalar() : isa == KvIsa::kAvx2 ? kv_simd_avx2() : kv_simd_avx512();
}

TEST(PackedAttention, SimdDecodeIsExact) {
  std::mt19937 rng(1);
  for (KvIsa isa : isas()) {
    for (const auto& [kt, vt] : pairs()) {
      for (int d : {32, 64, 128, 256}) {
        const Fixture f(kt, vt, d, 2, 2, 3, rng());
        std::vector<float> want(static_cast<size_t>(d)), got(static_cast<size_t>(d));
        for (size_t off = 0; off < f.k.size(); off += f.kc.head_bytes()) {
          f.kc.decode(f.k.data() + off, want.data());
          simd_for(isa).decode(f.kc, f.k.data() + off, got.data());
          ASSERT_EQ(want, got) << simd_for(isa).name << " " << kv_type_name(kt) << " d " << d;
        }
      }
    }
  }
}

// The oracle's rotated-query formulation equals attention over the original-domain entries.
TEST(PackedAttention, OracleEqualsBruteForceOverDecodedEntries) {
  std::mt19937 rng(2);
  for (const auto& [kt, vt] : pairs()) {
    Fixture f(kt, vt, 64, 2, 4, 40, rng());
    f.add_row(0, 39, rng, 0.3f);
    f.add_row(5, 17, rng, 0.3f);
    std::vector<float> out(f.out_size());
    ref::packed_attention(f.slot, f.n_heads, f.rows(), f.q.data(), 0.125f, out.data());
    const std::vector<std::pair<int, int>> ranges = {{0, 39}, {5, 17}};
    std::vector<float> kx(64), vx(64);
    for (size_t r = 0; r < ranges.size(); ++r) {
      for (int h = 0; h < f.n_heads; ++h) {
        const size_t kh = static_cast<size_t>(h / 2);
        const float* qh = f.q.data() + (r * static_cast<size_t>(f.n_heads) + static_cast<size_t>(h)) * 64;
        std::vector<double> s, acc(64, 0.0);
        for (int e = ranges[r].first; e <= ranges[r].second; ++e) {
          f.kc.decode_original(f.k.data() + static_cast<size_t>(e) * f.slot.k_stride + kh * f.kc.head_bytes(), kx.data());
          double dot = 0;
          for (int j = 0; j < 64; ++j) dot += static_cast<double>(qh[j]) * static_cast<double>(kx[static_cast<size_t>(j)]);
          s.push_back(0.125 * dot);
        }
        const double m = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - m));
        for (int e = ranges[r].first; e <= ranges[r].second; ++e) {
          f.vc.decode_original(f.v.data() + static_cast<size_t>(e) * f.slot.v_stride + kh * f.vc.head_bytes(), vx.data());
          for (int j = 0; j < 64; ++j) {
            acc[static_cast<size_t>(j)] += s[static_cast<size_t>(e - ranges[r].first)] / sum * static_cast<double>(vx[static_cast<size_t>(j)]);
          }
        }
        for (int j = 0; j < 64; ++j) {
          EXPECT_NEAR(out[(r * static_cast<size_t>(f.n_heads) + static_cast<size_t>(h)) * 64 + static_cast<size_t>(j)],
                      acc[static_cast<size_t>(j)], 2e-5)
              << kv_type_name(kt) << "/" << kv_type_name(vt);
        }
      }
    }
  }
}

// Tolerance: float32 dot products of length d and a float32 softmax over n entries; with unit-scale data the
// absolute error of an output element is a few ulps of the largest |v| times log(n) — 2e-5 covers it with margin.
TEST(PackedAttention, CpuMatchesOracleRandomized) {
  std::mt19937 rng(3);
  ThreadPool pool(2);
  for (KvIsa isa : isas()) {
    for (const auto& [kt, vt] : pairs()) {
      for (int d : {64, 128, 256}) {
        const int n = d == 128 ? 600 : 90;  // 600 entries: three 256-entry chunks to merge
        Fixture f(kt, vt, d, 2, 8, n, rng());
        f.add_row(0, n - 1, rng, 1.0f / std::sqrt(static_cast<float>(d)) * 3);
        f.add_row(n / 3, n / 2, rng, 0.2f);
        f.add_row(7, 7, rng, 0.5f);
        std::vector<float> want(f.out_size()), got(f.out_size());
        ref::packed_attention(f.slot, f.n_heads, f.rows(), f.q.data(), 1.0f, want.data());
        cpu::packed_attention_with(simd_for(isa), pool, f.slot, f.n_heads, f.rows(), f.q.data(), 1.0f, got.data());
        float max_err = 0;
        for (size_t i = 0; i < want.size(); ++i) max_err = std::max(max_err, std::fabs(want[i] - got[i]));
        EXPECT_LT(max_err, 2e-5f) << simd_for(isa).name << " " << kv_type_name(kt) << "/" << kv_type_name(vt) << " d " << d;
      }
    }
  }
}

// Raw runs (the KvPool sink's uncentered keys) score q · (k - shift) with the row's shift: the CPU kernel equals
// the oracle, and with f32 keys the oracle equals plain attention over keys that had the shift subtracted.
TEST(PackedAttention, RawRunsSubtractTheRowShift) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (const auto& [kt, vt] : pairs()) {
    const int d = 128, n_kv = 2;
    Fixture f(kt, vt, d, n_kv, 8, 300, rng());
    f.add_row(0, 299, rng, 0.3f);
    f.add_row(0, 40, rng, 0.3f);
    f.add_row(5, 200, rng, 0.3f);
    for (uint32_t i = 0; i < 2; ++i) f.runs[i].raw = true;           // row 0: its first two runs are raw
    f.runs[f.run_begin[1]].raw = true;                               // row 1: its first run
    std::vector<float> shift(static_cast<size_t>(n_kv * d));
    for (float& x : shift) x = dist(rng);
    f.shifts = {shift.data(), shift.data(), nullptr};                // row 2: no shift (raw flag ignored)
    f.runs[f.run_begin[2]].raw = true;
    std::vector<float> want(f.out_size()), got(f.out_size());
    ref::packed_attention(f.slot, f.n_heads, f.rows(), f.q.data(), 1.0f, want.data());
    cpu::packed_attention(pool, f.slot, f.n_heads, f.rows(), f.q.data(), 1.0f, got.data());
    float max_err = 0;
    for (size_t i = 0; i < want.size(); ++i) max_err = std::max(max_err, std::fabs(want[i] - got[i]));
    EXPECT_LT(max_err, 2e-5f) << kv_type_name(kt) << "/" << kv_type_name(vt);
    if (kt != KvType::kF32) continue;
    // Row 0 over a copy of the keys with the shift subtracted from its raw entries, nothing raw: plain attention.
    std::vector<uint8_t> k2 = f.k;
    std::vector<KvRun> runs2(f.runs.begin(), f.runs.begin() + f.run_begin[1]);
    for (KvRun& run : runs2) {
      run.k = k2.data() + (run.k - f.k.data());
      if (!run.raw) continue;
      run.raw = false;
      for (int e = 0; e < run.n; ++e) {
        auto* key = reinterpret_cast<float*>(k2.data() + (run.k - k2.data()) + static_cast<size_t>(e) * f.slot.k_stride);
        for (size_t j = 0; j < shift.size(); ++j) key[j] -= shift[j];
      }
    }
    const std::vector<uint32_t> begin2 = {0, static_cast<uint32_t>(runs2.size())};
    std::vector<float> plain(static_cast<size_t>(f.n_heads * d));
    ref::packed_attention(f.slot, f.n_heads, PackedRows{runs2, begin2, {}}, f.q.data(), 1.0f, plain.data());
    for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(want[i], plain[i], 1e-5f) << i;
  }
}

TEST(PackedAttention, BatchAndThreadInvariant) {
  std::mt19937 rng(4);
  ThreadPool one(1), three(3);
  for (const auto& [kt, vt] : pairs()) {
    Fixture f(kt, vt, 128, 2, 4, 700, rng());
    const std::vector<std::pair<int, int>> ranges = {{0, 699}, {100, 356}, {3, 3}, {0, 255}, {200, 699}};
    for (const auto& [a, b] : ranges) f.add_row(a, b, rng, 0.3f);
    std::vector<float> batch(f.out_size()), batch3(f.out_size());
    cpu::packed_attention(one, f.slot, f.n_heads, f.rows(), f.q.data(), 1.0f, batch.data());
    cpu::packed_attention(three, f.slot, f.n_heads, f.rows(), f.q.data(), 1.0f, batch3.data());
    EXPECT_EQ(batch, batch3) << kv_type_name(kt) << "/" << kv_type_name(vt);
    const size_t w = static_cast<size_t>(f.n_heads * f.d);
    for (size_t r = 0; r < ranges.size(); ++r) {
      const std::vector<uint32_t> begin = {0, f.run_begin[r + 1] - f.run_begin[r]};
      const PackedRows alone{std::span(f.runs).subspan(f.run_begin[r], begin[1]), begin, {}};
      std::vector<float> out(w);
      cpu::packed_attention(three, f.slot, f.n_heads, alone, f.q.data() + r * w, 1.0f, out.data());
      EXPECT_TRUE(std::equal(out.begin(), out.end(), batch.begin() + static_cast<ptrdiff_t>(r * w)))
          << "row " << r << " " << kv_type_name(kt) << "/" << kv_type_name(vt);
    }
  }
}

}  // namespace
}  // namespace specula::kv
