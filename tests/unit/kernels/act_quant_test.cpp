// The activation quantizers: hand-derived values for the reference rule, and every SIMD tier bit-identical
// to it (the matmul tests' oracle relies on that).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/act_quant.h"

namespace specula::kernels {
namespace {

// x[i] = i - 15 for i < 32: amax 16 (at i = 31), d = 16/127, q = round_half_even(x * 127/16).
TEST(ActQuant, HandDerivedBlock32) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i - 15);
  ActBlock32 b;
  quantize_act32(x.data(), 32, &b);
  EXPECT_EQ(b.d, 16.0f / 127.0f);
  EXPECT_EQ(b.qs[31], 127);   // 16 * 7.9375
  EXPECT_EQ(b.qs[0], -119);   // -15 * 7.9375 = -119.0625
  EXPECT_EQ(b.qs[15], 0);
  EXPECT_EQ(b.qs[16], 8);     // 7.9375
  EXPECT_EQ(b.qs[17], 16);    // 15.875
  EXPECT_EQ(b.qs[23], 64);    // 8 * 7.9375 = 63.5 -> ties to even
  EXPECT_EQ(b.qs[7], -64);    // -63.5 -> ties to even
  int sum = 0;
  for (int8_t q : b.qs) sum += q;
  EXPECT_EQ(b.sum, sum);
}

TEST(ActQuant, ZeroBlockHasZeroScale) {
  std::vector<float> x(256, 0.0f);
  ActBlock256 b;
  quantize_act256(x.data(), 256, &b);
  EXPECT_EQ(b.d, 0.0f);
  for (int8_t q : b.qs) EXPECT_EQ(q, 0);
  for (int16_t s : b.bsums) EXPECT_EQ(s, 0);
}

TEST(ActQuant, SimdTiersMatchReferenceBitForBit) {
  std::mt19937 rng(11);
  for (cpu::Isa isa : test::supported_tiers()) {
    if (isa == cpu::Isa::kScalar) continue;  // the scalar tier uses these very functions
    const cpu::KernelTable& k = cpu::table_for(isa);
    SCOPED_TRACE(k.name);
    for (int rep = 0; rep < 20; ++rep) {
      const int64_t n = 256 * (1 + rep % 4);
      std::vector<float> x = test::random_floats(rng, static_cast<size_t>(n), rep % 2 == 0 ? 1.0f : 1e-3f);
      if (rep == 3) {
        for (int64_t i = 0; i < 64; ++i) x[static_cast<size_t>(i)] = 0.0f;  // all-zero blocks
      }
      if (rep == 5) {
        for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 32) - 15.0f;  // ties
      }
      std::vector<ActBlock32> a(static_cast<size_t>(n / 32)), b(a.size());
      quantize_act32(x.data(), n, a.data());
      k.quantize_act32(x.data(), n, b.data());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(ActBlock32)), 0) << "rep " << rep;
      std::vector<ActBlock256> c(static_cast<size_t>(n / 256)), d(c.size());
      quantize_act256(x.data(), n, c.data());
      k.quantize_act256(x.data(), n, d.data());
      EXPECT_EQ(std::memcmp(c.data(), d.data(), c.size() * sizeof(ActBlock256)), 0) << "rep " << rep;
    }
  }
}

}  // namespace
}  // namespace specula::kernels
