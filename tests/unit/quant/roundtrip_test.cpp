// Quantize -> dequantize error bounds on random data, derived from each format's definition:
//  - 32-value types: |err| <= step/2 (+ the fp16 rounding of the stored scale and min), where the step
//    follows from the block's max (|max|/8, |max|/16, amax/127) or range ((max-min)/15, /31);
//  - K-quants: every value lands on the nearest level of its sub-block's stored grid, and the RMS error
//    on Gaussian data stays under the uniform-quantization noise of the format's level count;
//  - Q8_K: |err| <= d/2 with its fp32 d. Also: zeros stay exact, and the typed Q8 extras (bsums, s).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "quant/quant.h"

namespace specula::quant {
namespace {

constexpr float kF16Rel = 1.0f / 2048;  // max relative rounding error of fp16 (normal range)

std::vector<float> gaussian(size_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

// A mix of scales and shapes so that blocks see outliers, positive-only and negative-only ranges.
std::vector<float> test_data(size_t n) {
  auto x = gaussian(n, 1.0f, 7);
  for (size_t i = 0; i < n; ++i) {
    if (i % 97 == 0) x[i] *= 25.0f;
    if ((i / 256) % 4 == 1) x[i] = std::fabs(x[i]) + 0.1f;
    if ((i / 256) % 4 == 2) x[i] = -std::fabs(x[i]) * 0.01f;
  }
  return x;
}

std::vector<float> round_trip(GgmlType type, const std::vector<float>& x, std::vector<uint8_t>* q = nullptr) {
  std::vector<uint8_t> bytes(format::ggml_row_bytes(type, x.size()));
  quantize_row(type, x.data(), bytes.data(), static_cast<int64_t>(x.size()));
  std::vector<float> y(x.size());
  dequantize_row(type, bytes.data(), y.data(), static_cast<int64_t>(x.size()));
  if (q != nullptr) *q = std::move(bytes);
  return y;
}

float signed_absmax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
  }
  return m;
}

// Symmetric types with d = max / -half_levels and levels -half_levels .. half_levels - 1: values with
// x/d above half_levels - 0.5 are clamped to the top level (error up to one step).
void check_symmetric(GgmlType type, int half_levels) {
  const auto x = test_data(4096);
  const auto y = round_trip(type, x);
  for (size_t b = 0; b < x.size(); b += 32) {
    const float d = signed_absmax(&x[b], 32) / static_cast<float>(-half_levels);
    for (size_t i = b; i < b + 32; ++i) {
      const float ratio = x[i] / d;
      const float steps = ratio > static_cast<float>(half_levels) - 0.5f ? 1.0f : 0.5f;
      const float bound = std::fabs(d) * (steps + static_cast<float>(half_levels) * kF16Rel) * 1.0001f;
      ASSERT_LE(std::fabs(x[i] - y[i]), bound) << format::ggml_type_name(type) << " at " << i;
    }
  }
}

// Affine types: d = (max - min) / levels, value = d q + min.
void check_affine(GgmlType type, int levels) {
  const auto x = test_data(4096);
  const auto y = round_trip(type, x);
  for (size_t b = 0; b < x.size(); b += 32) {
    const auto [mn, mx] = std::minmax_element(x.begin() + static_cast<long>(b), x.begin() + static_cast<long>(b) + 32);
    const float d = (*mx - *mn) / static_cast<float>(levels);
    const float bound = (d * (0.5f + static_cast<float>(levels) * kF16Rel) + std::fabs(*mn) * kF16Rel) * 1.0001f;
    for (size_t i = b; i < b + 32; ++i) {
      ASSERT_LE(std::fabs(x[i] - y[i]), bound) << format::ggml_type_name(type) << " at " << i;
    }
  }
}

TEST(QuantRoundTrip, Q4_0) { check_symmetric(GgmlType::kQ4_0, 8); }
TEST(QuantRoundTrip, Q5_0) { check_symmetric(GgmlType::kQ5_0, 16); }
TEST(QuantRoundTrip, Q4_1) { check_affine(GgmlType::kQ4_1, 15); }
TEST(QuantRoundTrip, Q5_1) { check_affine(GgmlType::kQ5_1, 31); }

TEST(QuantRoundTrip, Q8_0AndQ8_1HalfAStep) {
  const auto x = test_data(4096);
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ8_1}) {
    const auto y = round_trip(type, x);
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0;
      for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float d = amax / 127;
      const float bound = d * (0.5f + 127 * kF16Rel) * 1.0001f;
      for (size_t i = b; i < b + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), bound) << i;
    }
  }
}

TEST(QuantRoundTrip, Q8_1StoresScaledSum) {
  const auto x = test_data(256);
  std::vector<BlockQ8_1> q(256 / 32);
  quantize_row_q8_1(x.data(), q.data(), 256);
  for (const auto& b : q) {
    int sum = 0;
    for (int8_t v : b.qs) sum += v;
    const float d = fp16_to_fp32(b.d);
    EXPECT_NEAR(fp16_to_fp32(b.s), static_cast<float>(sum) * d, std::fabs(static_cast<float>(sum)) * d * 2 * kF16Rel);
  }
}

TEST(QuantRoundTrip, Q8_KHalfAStepAndBlockSums) {
  const auto x = test_data(4096);
  std::vector<BlockQ8_K> q(4096 / 256);
  quantize_row_q8_k(x.data(), q.data(), 4096);
  std::vector<float> y(4096);
  dequantize_row_q8_k(q.data(), y.data(), 4096);
  for (size_t b = 0; b < q.size(); ++b) {
    const float d = q[b].d;
    EXPECT_NEAR(std::fabs(d), std::fabs(signed_absmax(&x[256 * b], 256)) / 127, std::fabs(d) * 1e-6f);
    for (size_t i = 256 * b; i < 256 * (b + 1); ++i) ASSERT_LE(std::fabs(x[i] - y[i]), std::fabs(d) * 0.5001f);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += q[b].qs[16 * g + l];
      EXPECT_EQ(q[b].bsums[g], sum);
    }
  }
}

TEST(QuantRoundTrip, HalfFloats) {
  const auto x = test_data(4096);
  const auto y16 = round_trip(GgmlType::kF16, x);
  const auto yb = round_trip(GgmlType::kBF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_LE(std::fabs(x[i] - y16[i]), std::fabs(x[i]) * kF16Rel + 3e-8f) << i;  // + half the smallest subnormal
    ASSERT_LE(std::fabs(x[i] - yb[i]), std::fabs(x[i]) / 256) << i;
  }
}

// Grid levels of one sub-block: value(q) for q in levels, computed the way the format defines them.
float nearest_level_error(float x, float scale, float offset, int q_min, int q_max) {
  float best = INFINITY;
  for (int q = q_min; q <= q_max; ++q) best = std::min(best, std::fabs(x - (scale * static_cast<float>(q) - offset)));
  return best;
}

TEST(QuantRoundTrip, Q4_KAndQ5_KPickTheNearestLevelOfTheStoredGrid) {
  const auto x = test_data(4096);
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ5_K}) {
    std::vector<uint8_t> bytes;
    const auto y = round_trip(type, x, &bytes);
    const int nmax = type == GgmlType::kQ4_K ? 15 : 31;
    for (size_t b = 0; b < x.size() / 256; ++b) {
      const uint8_t* block = bytes.data() + b * format::ggml_traits(type).block_bytes;
      uint16_t dh, dminh;
      std::memcpy(&dh, block, 2);
      std::memcpy(&dminh, block + 2, 2);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        unpack_scale_min_k4(j, block + 4, &sc, &m);
        const float scale = fp16_to_fp32(dh) * sc, offset = fp16_to_fp32(dminh) * m;
        for (size_t i = 256 * b + 32 * j; i < 256 * b + 32 * j + 32; ++i) {
          const float best = nearest_level_error(x[i], scale, offset, 0, nmax);
          ASSERT_LE(std::fabs(x[i] - y[i]), best + scale * 1e-5f + 1e-7f) << format::ggml_type_name(type) << " " << i;
        }
      }
    }
  }
}

TEST(QuantRoundTrip, Q6_KPicksTheNearestLevelOfTheStoredGrid) {
  const auto x = test_data(4096);
  std::vector<BlockQ6_K> q(4096 / 256);
  quantize_row_q6_k(x.data(), q.data(), 4096);
  std::vector<float> y(4096);
  dequantize_row_q6_k(q.data(), y.data(), 4096);
  for (size_t b = 0; b < q.size(); ++b) {
    for (int j = 0; j < 16; ++j) {
      const float scale = fp16_to_fp32(q[b].d) * q[b].scales[j];
      for (size_t i = 256 * b + 16 * j; i < 256 * b + 16 * j + 16; ++i) {
        const float best = nearest_level_error(x[i], scale, 0.0f, -32, 31);
        ASSERT_LE(std::fabs(x[i] - y[i]), best + std::fabs(scale) * 1e-5f + 1e-7f) << i;
      }
    }
  }
}

// RMS error relative to sigma on N(0, 1) data. A sub-block of 32 (16) Gaussians spans about 4 sigma, so
// uniform quantization with L levels leaves noise near 4 / (L - 1) / sqrt(12) sigma: Q4 ~0.077, Q5
// ~0.037, Q6 (64 levels over ~3.5 sigma of 16 values) ~0.016, Q8 ~0.006 (measured: Q4_K 0.072, Q5_K 0.036,
// Q6_K 0.018, Q8_0 0.0054). The bounds allow roughly 50% on top of the estimate.
TEST(QuantRoundTrip, RmsErrorWithinFormatNoise) {
  const auto x = gaussian(1 << 14, 1.0f, 11);
  const std::pair<GgmlType, double> cases[] = {
      {GgmlType::kQ4_0, 0.12}, {GgmlType::kQ4_1, 0.12}, {GgmlType::kQ5_0, 0.06}, {GgmlType::kQ5_1, 0.06},
      {GgmlType::kQ8_0, 0.009}, {GgmlType::kQ4_K, 0.115}, {GgmlType::kQ5_K, 0.056}, {GgmlType::kQ6_K, 0.024},
      {GgmlType::kQ8_K, 0.009}};
  for (const auto& [type, bound] : cases) {
    const auto y = round_trip(type, x);
    double se = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double e = static_cast<double>(x[i] - y[i]);
      se += e * e;
    }
    const double rms = std::sqrt(se / static_cast<double>(x.size()));
    EXPECT_LT(rms, bound) << format::ggml_type_name(type);
  }
}

TEST(QuantRoundTrip, ZerosAreExactForEveryType) {
  const std::vector<float> x(512, 0.0f);
  for (GgmlType type : quantizable_types()) {
    const auto y = round_trip(type, x);
    for (float v : y) ASSERT_EQ(v, 0.0f) << format::ggml_type_name(type);
  }
}

}  // namespace
}  // namespace specula::quant
