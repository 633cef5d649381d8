// KV codecs: exact byte sizes, the turbo bit layout (decoded from hand-built blocks), encoding semantics
// (nearest centroid of the rotated unit vector, corrected norm), rotation orthonormality against the explicit
// Hadamard matrix, and round-trip error within turboquant.md's D_mse table per bit width.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kv/codec.h"
#include "quant/quant.h"

namespace specula::kv {
namespace {

KvCodec make(KvType t, int d, uint64_t seed = 7) {
  auto c = KvCodec::create(t, d, seed, "test");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  return c.value();
}

std::vector<float> gaussian(std::mt19937& rng, int n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(KvType, ParsesNamesAndAliases) {
  EXPECT_EQ(parse_kv_type("turbo4").value(), KvType::kTurbo4);
  EXPECT_EQ(parse_kv_type("TURBO3").value(), KvType::kTurbo3);
  EXPECT_EQ(parse_kv_type("turbo2_0").value(), KvType::kTurbo2);
  EXPECT_EQ(parse_kv_type("fp16").value(), KvType::kF16);
  EXPECT_EQ(parse_kv_type("q8_0").value(), KvType::kQ8_0);
  const auto bad = parse_kv_type("q5_1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("turbo4"), std::string::npos);
}

TEST(KvType, ExactBytesPerHeadVector) {
  // turboquant.md §6.1 layouts: 128 values -> turbo4 66 B, turbo3 50 B, turbo2 34 B; ggml q8_0 34 B / 32,
  // q4_0 18 B / 32.
  EXPECT_EQ(head_bytes(KvType::kTurbo4, 128), 66u);
  EXPECT_EQ(head_bytes(KvType::kTurbo3, 128), 50u);
  EXPECT_EQ(head_bytes(KvType::kTurbo2, 128), 34u);
  EXPECT_EQ(head_bytes(KvType::kTurbo4, 256), 132u);
  EXPECT_EQ(head_bytes(KvType::kTurbo3, 512), 200u);
  EXPECT_EQ(head_bytes(KvType::kTurbo4, 64), 34u);
  EXPECT_EQ(head_bytes(KvType::kTurbo3, 64), 26u);
  EXPECT_EQ(head_bytes(KvType::kTurbo2, 64), 18u);
  EXPECT_EQ(head_bytes(KvType::kTurbo4, 32), 18u);
  EXPECT_EQ(head_bytes(KvType::kQ8_0, 128), 136u);
  EXPECT_EQ(head_bytes(KvType::kQ4_0, 256), 144u);
  EXPECT_EQ(head_bytes(KvType::kF16, 64), 128u);
  EXPECT_EQ(head_bytes(KvType::kBF16, 8), 16u);
  EXPECT_EQ(head_bytes(KvType::kF32, 8), 32u);
  for (KvType t : {KvType::kTurbo2, KvType::kTurbo3, KvType::kTurbo4}) {
    EXPECT_EQ(make(t, 128).head_bytes(), head_bytes(t, 128));
  }
}

TEST(KvType, HeadDimErrorsNameTheLayer) {
  auto c = KvCodec::create(KvType::kTurbo4, 96, 1, "layer 5 K");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("layer 5 K"), std::string::npos);
  EXPECT_NE(c.error().message().find("power of two"), std::string::npos);
  EXPECT_FALSE(KvCodec::create(KvType::kQ8_0, 8, 1, "layer 0 V").ok());
  EXPECT_FALSE(KvCodec::create(KvType::kTurbo2, 16, 1, "layer 0 V").ok());
  EXPECT_TRUE(KvCodec::create(KvType::kF16, 8, 1, "layer 0 V").ok());
  EXPECT_TRUE(KvCodec::create(KvType::kQ4_0, 96, 1, "x").ok());
  EXPECT_TRUE(KvCodec::create(KvType::kTurbo3, 512, 1, "x").ok());
}

// Sylvester Hadamard entry: (-1)^popcount(i & j).
float hadamard(int i, int j) { return (std::popcount(static_cast<unsigned>(i & j)) & 1) ? -1.0f : 1.0f; }

TEST(Rotation, EqualsExplicitSignedHadamardAndInverts) {
  for (int d : {32, 64, 128, 256}) {
    const int g = turbo_group(d);
    const Rotation r(d, g, layer_rotation_seed(kDefaultRotationSeed, 3));
    std::mt19937 rng(d);
    const auto x = gaussian(rng, d);
    std::vector<float> y = x;
    r.forward(y.data());
    for (int i = 0; i < d; ++i) {
      const int g0 = i / g * g;
      double want = 0;
      for (int j = 0; j < g; ++j) {
        want += static_cast<double>(hadamard(i - g0, j) * r.sign1()[static_cast<size_t>(g0 + j)] * x[static_cast<size_t>(g0 + j)]);
      }
      want *= static_cast<double>(r.sign2()[static_cast<size_t>(i)]) / std::sqrt(static_cast<double>(g));
      EXPECT_NEAR(y[static_cast<size_t>(i)], want, 1e-5) << d << " " << i;
    }
    r.inverse(y.data());
    for (int i = 0; i < d; ++i) EXPECT_NEAR(y[static_cast<size_t>(i)], x[static_cast<size_t>(i)], 1e-5);
  }
  // Different layers, different signs.
  const Rotation a(128, 128, layer_rotation_seed(kDefaultRotationSeed, 0));
  const Rotation b(128, 128, layer_rotation_seed(kDefaultRotationSeed, 1));
  EXPECT_NE(a.sign1(), b.sign1());
}

// Hand-built blocks decode per the documented layout (independent of the encoder).
TEST(TurboLayout, DecodesHandBuiltBlocks) {
  const int g = 128;
  for (int bits = 2; bits <= 4; ++bits) {
    const KvType t = bits == 2 ? KvType::kTurbo2 : bits == 3 ? KvType::kTurbo3 : KvType::kTurbo4;
    const KvCodec c = make(t, g);
    std::vector<uint8_t> block(c.head_bytes(), 0);
    const uint16_t norm = fp32_to_fp16(2.0f);
    std::memcpy(block.data(), &norm, 2);
    std::vector<int> idx(g);
    for (int j = 0; j < g; ++j) idx[static_cast<size_t>(j)] = (j * 7 + 3) % (1 << bits);
    for (int j = 0; j < g; ++j) {
      const int v = idx[static_cast<size_t>(j)];
      if (bits == 4) {
        block[2 + static_cast<size_t>(j / 2)] |= static_cast<uint8_t>(v << (j % 2 == 0 ? 0 : 4));
      } else {
        block[2 + static_cast<size_t>(j / 4)] |= static_cast<uint8_t>((v & 3) << (2 * (j % 4)));
        if (bits == 3) block[34 + static_cast<size_t>(j / 8)] |= static_cast<uint8_t>((v >> 2) << (j % 8));
      }
    }
    std::vector<float> out(g);
    c.decode(block.data(), out.data());
    for (int j = 0; j < g; ++j) {
      EXPECT_EQ(out[static_cast<size_t>(j)], 2.0f * c.codebook()->centroids[static_cast<size_t>(idx[static_cast<size_t>(j)])])
          << bits << " " << j;
    }
  }
}

// The encoder picks the nearest centroid of each rotated, normalized coordinate and stores the corrected norm.
TEST(TurboEncode, NearestCentroidAndCorrectedNorm) {
  std::mt19937 rng(11);
  for (KvType t : {KvType::kTurbo2, KvType::kTurbo3, KvType::kTurbo4}) {
    for (int d : {64, 256}) {
      const KvCodec c = make(t, d);
      const int g = c.group();
      const auto x = gaussian(rng, d, 3.0f);
      std::vector<uint8_t> bytes(c.head_bytes());
      c.encode(x.data(), bytes.data());
      std::vector<float> y = x;
      c.rotation().forward(y.data());
      const size_t block_bytes = c.head_bytes() / static_cast<size_t>(d / g);
      for (int g0 = 0; g0 < d; g0 += g) {
        const uint8_t* block = bytes.data() + static_cast<size_t>(g0 / g) * block_bytes;
        double n2 = 0, c2 = 0;
        for (int j = 0; j < g; ++j) n2 += std::pow(static_cast<double>(x[static_cast<size_t>(g0 + j)]), 2);
        for (int j = 0; j < g; ++j) {
          const double u = static_cast<double>(y[static_cast<size_t>(g0 + j)]) / std::sqrt(n2);
          int best = 0;
          for (int k = 1; k < c.codebook()->n_levels; ++k) {
            if (std::fabs(u - static_cast<double>(c.codebook()->centroids[static_cast<size_t>(k)])) <
                std::fabs(u - static_cast<double>(c.codebook()->centroids[static_cast<size_t>(best)]))) {
              best = k;
            }
          }
          const int got = turbo_index(turbo_bits(t), g, block, j);
          EXPECT_EQ(got, best) << kv_type_name(t) << " d " << d << " j " << g0 + j;
          c2 += std::pow(c.codebook()->centroids[static_cast<size_t>(got)], 2);
        }
        uint16_t h;
        std::memcpy(&h, block, 2);
        EXPECT_NEAR(fp16_to_fp32(h), std::sqrt(n2 / c2), 1e-3 * std::sqrt(n2 / c2));
      }
    }
  }
}

TEST(TurboEncode, ZeroVectorStoresZero) {
  const KvCodec c = make(KvType::kTurbo3, 128);
  std::vector<float> x(128, 0.0f), out(128, 1.0f);
  std::vector<uint8_t> bytes(c.head_bytes(), 0xff);
  c.encode(x.data(), bytes.data());
  for (uint8_t b : bytes) EXPECT_EQ(b, 0);
  c.decode_original(bytes.data(), out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

// Mean ‖x - x̂‖² / ‖x‖² over random directions: turboquant.md §1.3 D_mse per (bits, d), allowing for the
// norm correction (which lowers it slightly) and fp16 norm rounding.
TEST(TurboRoundTrip, ErrorWithinSpecTable) {
  struct Case {
    KvType type;
    int d;
    double d_mse;
  };
  const std::vector<Case> cases = {
      {KvType::kTurbo2, 128, 0.11600}, {KvType::kTurbo3, 128, 0.03397}, {KvType::kTurbo4, 128, 0.00931},
      {KvType::kTurbo2, 64, 0.11453},  {KvType::kTurbo3, 64, 0.03339},  {KvType::kTurbo4, 64, 0.00913},
      {KvType::kTurbo4, 256, 0.00931}, {KvType::kTurbo3, 512, 0.03397},
  };
  std::mt19937 rng(5);
  for (const Case& cs : cases) {
    const KvCodec c = make(cs.type, cs.d, 99);
    std::vector<uint8_t> bytes(c.head_bytes());
    std::vector<float> out(static_cast<size_t>(cs.d));
    double sum = 0;
    const int n = 1500;
    for (int i = 0; i < n; ++i) {
      const auto x = gaussian(rng, cs.d, 0.5f + static_cast<float>(i % 7));
      c.encode(x.data(), bytes.data());
      c.decode_original(bytes.data(), out.data());
      double e = 0, s = 0;
      for (int j = 0; j < cs.d; ++j) {
        e += std::pow(x[static_cast<size_t>(j)] - out[static_cast<size_t>(j)], 2);
        s += std::pow(x[static_cast<size_t>(j)], 2);
      }
      sum += e / s;
    }
    const double mean = sum / n;
    EXPECT_LE(mean, cs.d_mse * 1.04) << kv_type_name(cs.type) << " d " << cs.d;
    EXPECT_GE(mean, cs.d_mse * 0.90) << kv_type_name(cs.type) << " d " << cs.d;
  }
}

TEST(PlainRoundTrip, MatchesGgmlCodecsAndHalfRounding) {
  std::mt19937 rng(3);
  const int d = 128;
  const auto x = gaussian(rng, d, 2.0f);
  std::vector<float> out(d), want(d);
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kQ8_0, KvType::kQ4_0}) {
    const KvCodec c = make(t, d);
    std::vector<uint8_t> bytes(c.head_bytes());
    c.encode(x.data(), bytes.data());
    c.decode_original(bytes.data(), out.data());
    const auto gtype = t == KvType::kF32   ? quant::GgmlType::kF32
                       : t == KvType::kF16 ? quant::GgmlType::kF16
                       : t == KvType::kBF16 ? quant::GgmlType::kBF16
                       : t == KvType::kQ8_0 ? quant::GgmlType::kQ8_0
                                            : quant::GgmlType::kQ4_0;
    std::vector<uint8_t> ref(bytes.size());
    quant::quantize_row(gtype, x.data(), ref.data(), d);
    EXPECT_EQ(bytes, ref) << kv_type_name(t);
    quant::dequantize_row(gtype, ref.data(), want.data(), d);
    EXPECT_EQ(out, want) << kv_type_name(t);
  }
}

}  // namespace
}  // namespace specula::kv
