#include "base/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace specula {
namespace {

// Every fp16 bit pattern survives fp16 -> fp32 -> fp16 (NaNs stay NaN).
TEST(Half, Fp16RoundTripsEveryBitPattern) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    EXPECT_EQ(fp32_to_fp16(f), h) << "h=" << h;
  }
}

// Rounding to nearest even at the midpoint between two fp16 values, including subnormals.
TEST(Half, Fp16RoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const double lo = fp16_to_fp32(static_cast<uint16_t>(h));
    const double hi = fp16_to_fp32(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);
    if (static_cast<double>(mid) != (lo + hi) / 2) continue;  // midpoint not representable in fp32
    const uint16_t want = (h % 2 == 0) ? static_cast<uint16_t>(h) : static_cast<uint16_t>(h + 1);
    EXPECT_EQ(fp32_to_fp16(mid), want) << "h=" << h;
  }
  EXPECT_EQ(fp32_to_fp16(1e6f), 0x7c00);     // overflow to inf
  EXPECT_EQ(fp32_to_fp16(-1e-9f), 0x8000);   // underflow to -0
}

TEST(Half, Bf16RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(fp32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
  // 1 + 3 * 2^-8 is the midpoint between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
  EXPECT_EQ(fp32_to_bf16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_EQ(round_to_bf16(std::sqrt(1536.0f)), 39.25f);  // Gemma 4 E2B embedding scale
  EXPECT_EQ(round_to_bf16(std::sqrt(5376.0f)), 73.5f);   // 31B
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
}  // namespace specula
