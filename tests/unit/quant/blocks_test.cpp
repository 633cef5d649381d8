// Dequantization of hand-built blocks. Expected values are derived by hand from the ggml format
// descriptions (field layouts, nibble orders, the 6-bit scale packing), not from the implementation.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "quant/quant.h"

namespace specula::quant {
namespace {

constexpr uint16_t kF16One = 0x3C00;      // 1.0
constexpr uint16_t kF16Half = 0x3800;     // 0.5
constexpr uint16_t kF16Quarter = 0x3400;  // 0.25
constexpr uint16_t kF16Eighth = 0x3000;   // 0.125
constexpr uint16_t kF16Two = 0x4000;      // 2.0
constexpr uint16_t kF16MinusOne = 0xBC00;

template <typename Block>
std::vector<float> dequant(GgmlType type, const Block& b, int n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(type, &b, y.data(), n);
  return y;
}

TEST(QuantBlocks, Q4_0LowNibblesFirstHalfHighNibblesSecondHalf) {
  BlockQ4_0 b{};
  b.d = kF16Half;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequant(GgmlType::kQ4_0, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 8)) << j;
    EXPECT_EQ(y[16 + j], 0.5f * static_cast<float>(7 - j)) << j;
  }
  EXPECT_EQ(y[0], -4.0f);
  EXPECT_EQ(y[16], 3.5f);
}

TEST(QuantBlocks, Q4_1AddsTheMin) {
  BlockQ4_1 b{};
  b.d = kF16Quarter;
  b.m = kF16MinusOne;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
  const auto y = dequant(GgmlType::kQ4_1, b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * static_cast<float>(j) - 1.0f);
    EXPECT_EQ(y[16 + j], y[j]);
  }
  EXPECT_EQ(y[15], 2.75f);
}

TEST(QuantBlocks, Q5_0FifthBitFromQhWord) {
  BlockQ5_0 b{};
  b.d = kF16One;
  const uint32_t qh = 0x80000001u;  // bit 0 (value 0) and bit 31 (value 31)
  std::memcpy(b.qh, &qh, 4);
  b.qs[0] = 0x0F;   // value 0 low bits 15, value 16 low bits 0
  b.qs[15] = 0xF0;  // value 15 low bits 0, value 31 low bits 15
  const auto y = dequant(GgmlType::kQ5_0, b, 32);
  EXPECT_EQ(y[0], 15.0f);    // 0x1F - 16
  EXPECT_EQ(y[31], 15.0f);   // 0x1F - 16
  EXPECT_EQ(y[16], -16.0f);  // 0x00 - 16
  EXPECT_EQ(y[15], -16.0f);
  for (int j = 1; j < 15; ++j) EXPECT_EQ(y[j], -16.0f);
}

TEST(QuantBlocks, Q5_1) {
  BlockQ5_1 b{};
  b.d = kF16Two;
  b.m = kF16Half;
  const uint32_t qh = 1u << 16;  // value 16
  std::memcpy(b.qh, &qh, 4);
  b.qs[0] = 0x3A;
  const auto y = dequant(GgmlType::kQ5_1, b, 32);
  EXPECT_EQ(y[0], 20.5f);   // 10 * 2 + 0.5
  EXPECT_EQ(y[16], 38.5f);  // (3 | 16) * 2 + 0.5
  EXPECT_EQ(y[1], 0.5f);
  EXPECT_EQ(y[31], 0.5f);
}

TEST(QuantBlocks, Q8_0AndQ8_1) {
  BlockQ8_0 b{};
  b.d = kF16Eighth;
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j - 16);
  b.qs[0] = -128;
  b.qs[31] = 127;
  const auto y = dequant(GgmlType::kQ8_0, b, 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[31], 15.875f);
  EXPECT_EQ(y[20], 0.5f);

  BlockQ8_1 c{};
  c.d = kF16Half;
  c.s = kF16Two;  // not used by dequantization
  for (int j = 0; j < 32; ++j) c.qs[j] = static_cast<int8_t>(3 * j - 40);
  const auto z = dequant(GgmlType::kQ8_1, c, 32);
  EXPECT_EQ(z[0], -20.0f);
  EXPECT_EQ(z[31], 26.5f);
}

TEST(QuantBlocks, Q8_KUsesAnFp32Scale) {
  BlockQ8_K b{};
  b.d = 0.75f;
  for (int j = 0; j < 256; ++j) b.qs[j] = static_cast<int8_t>(j - 128);
  const auto y = dequant(GgmlType::kQ8_K, b, 256);
  EXPECT_EQ(y[0], -96.0f);
  EXPECT_EQ(y[128], 0.0f);
  EXPECT_EQ(y[255], 95.25f);
}

// In Q2_K and Q3_K, byte b of qs holds values b % 32 + 32 * g (g = 0..3, bits 2g..2g+1) of the half
// b / 32. With every qs byte 0xE4 (0b11100100) the level of value p is g = (p % 128) / 32.
TEST(QuantBlocks, Q2_KNibbleScalesAndMins) {
  BlockQ2_K b{};
  b.d = kF16One;
  b.dmin = kF16Half;
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<uint8_t>(i | ((15 - i) << 4));
  std::memset(b.qs, 0xE4, sizeof b.qs);
  const auto y = dequant(GgmlType::kQ2_K, b, 256);
  EXPECT_EQ(y[0], -7.5f);    // sub-block 0: scale 0, min 15, level 0
  EXPECT_EQ(y[40], -4.5f);   // sub-block 2: 2 * 1 - 0.5 * 13
  EXPECT_EQ(y[100], 13.5f);  // sub-block 6: 6 * 3 - 0.5 * 9
  EXPECT_EQ(y[130], -3.5f);  // sub-block 8: 8 * 0 - 0.5 * 7
  EXPECT_EQ(y[255], 45.0f);  // sub-block 15: 15 * 3 - 0
}

// Q3_K 6-bit scales: scales[0] = 0xF0 gives the low nibbles of sub-blocks 0 (0) and 8 (15); scales[8]
// = 0b11100100 gives the high bits of sub-blocks 0, 4, 8, 12 (0, 1, 2, 3). Stored scales: s0 = 0, s4 =
// 16, s8 = 47, s12 = 48, all others 0; the effective scale is s - 32.
TEST(QuantBlocks, Q3_KScalesAndHighBitMask) {
  BlockQ3_K b{};
  b.d = kF16Half;
  b.scales[0] = 0xF0;
  b.scales[8] = 0xE4;
  std::memset(b.qs, 0xE4, sizeof b.qs);
  std::memset(b.hmask, 0xFF, sizeof b.hmask);  // high bit set: no -4 offset
  auto y = dequant(GgmlType::kQ3_K, b, 256);
  EXPECT_EQ(y[70], -16.0f);   // sub-block 4: 0.5 * (16 - 32) * 2
  EXPECT_EQ(y[100], -48.0f);  // sub-block 6: 0.5 * (0 - 32) * 3
  EXPECT_EQ(y[130], 0.0f);    // sub-block 8: level 0
  EXPECT_EQ(y[200], 16.0f);   // sub-block 12: 0.5 * (48 - 32) * 2
  std::memset(b.hmask, 0, sizeof b.hmask);  // high bit clear: level - 4
  b.hmask[5] = 0x10;                        // except value 128 + 5 (bit 0 + 4 * 1)
  y = dequant(GgmlType::kQ3_K, b, 256);
  EXPECT_EQ(y[5], 64.0f);     // sub-block 0: 0.5 * -32 * (0 - 4)
  EXPECT_EQ(y[70], 16.0f);    // 0.5 * -16 * (2 - 4)
  EXPECT_EQ(y[130], -30.0f);  // sub-block 8: 0.5 * 15 * (0 - 4)
  EXPECT_EQ(y[133], 0.0f);    // its high bit is set: level 0
  EXPECT_EQ(y[200], -16.0f);  // 0.5 * 16 * (2 - 4)
}

// Q4_K/Q5_K 12-byte scale packing with the boundary values 0 and 63 in both halves (sub-blocks 0-3 use
// bytes 0-7 directly; 4-7 combine a nibble of bytes 8-11 with the top two bits of bytes 0-7).
constexpr uint8_t kPackedScales[12] = {0xFF, 0x00, 0x81, 0xC2, 0x00, 0xFF, 0x45, 0x87, 0x0F, 0xF0, 0x11, 0x80};
constexpr int kScale[8] = {63, 0, 1, 2, 63, 0, 33, 48};
constexpr int kMin[8] = {0, 63, 5, 7, 0, 63, 17, 40};

TEST(QuantBlocks, KQuantScaleMinUnpacking) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc = 0, m = 0;
    unpack_scale_min_k4(j, kPackedScales, &sc, &m);
    EXPECT_EQ(sc, kScale[j]) << j;
    EXPECT_EQ(m, kMin[j]) << j;
  }
}

// qs[32 c + l] = (l % 16) | (15 - l % 16) << 4: even sub-blocks (low nibbles) have level l % 16, odd
// ones 15 - l % 16.
TEST(QuantBlocks, Q4_K) {
  BlockQ4_K b{};
  b.d = kF16One;
  b.dmin = kF16Half;
  std::memcpy(b.scales, kPackedScales, 12);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
  const auto y = dequant(GgmlType::kQ4_K, b, 256);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[31], 945.0f);   // 63 * 15
  EXPECT_EQ(y[32], -31.5f);   // 0 * 15 - 0.5 * 63
  EXPECT_EQ(y[69], 2.5f);     // 1 * 5 - 0.5 * 5
  EXPECT_EQ(y[97], 24.5f);    // 2 * 14 - 0.5 * 7
  EXPECT_EQ(y[145], 63.0f);   // 63 * 1 - 0
  EXPECT_EQ(y[162], -31.5f);  // 0 * 13 - 0.5 * 63
  EXPECT_EQ(y[202], 321.5f);  // 33 * 10 - 0.5 * 17
  EXPECT_EQ(y[227], 556.0f);  // 48 * 12 - 0.5 * 40
  for (int p = 0; p < 256; ++p) {
    const int j = p / 32, l = p % 32;
    const int q = j % 2 == 0 ? l % 16 : 15 - l % 16;
    EXPECT_EQ(y[p], static_cast<float>(kScale[j] * q) - 0.5f * static_cast<float>(kMin[j])) << p;
  }
}

// The fifth bit of value p is bit p / 32 of qh[p % 32]: 0xAA (odd sub-blocks) for l < 16, 0x55 after.
TEST(QuantBlocks, Q5_K) {
  BlockQ5_K b{};
  b.d = kF16One;
  b.dmin = kF16Half;
  std::memcpy(b.scales, kPackedScales, 12);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
  for (int l = 0; l < 32; ++l) b.qh[l] = l < 16 ? 0xAA : 0x55;
  const auto y = dequant(GgmlType::kQ5_K, b, 256);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[16], 1008.0f);   // 63 * (0 | 16)
  EXPECT_EQ(y[32], -31.5f);    // 0 * 31 - 31.5
  EXPECT_EQ(y[202], 321.5f);   // 33 * 10 - 8.5
  EXPECT_EQ(y[218], 849.5f);   // 33 * (10 | 16) - 8.5
  EXPECT_EQ(y[227], 1324.0f);  // 48 * (12 | 16) - 20
}

// ql[k] = k, every qh byte 0b11100100 (high bits of quarter g are g); int8 scales -128, -7..6, 127.
TEST(QuantBlocks, Q6_K) {
  BlockQ6_K b{};
  b.d = kF16Quarter;
  for (int k = 0; k < 128; ++k) b.ql[k] = static_cast<uint8_t>(k);
  std::memset(b.qh, 0xE4, sizeof b.qh);
  for (int i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(i - 8);
  b.scales[0] = -128;
  b.scales[15] = 127;
  const auto y = dequant(GgmlType::kQ6_K, b, 256);
  EXPECT_EQ(y[0], 1024.0f);    // 0.25 * -128 * (0 - 32)
  EXPECT_EQ(y[40], 12.0f);     // ql[40] low 8 | 1 << 4 = 24; 0.25 * -6 * (24 - 32)
  EXPECT_EQ(y[70], 0.0f);      // ql[6] high 0 | 2 << 4 = 32
  EXPECT_EQ(y[150], -6.5f);    // ql[86] low 6, level 6; 0.25 * 1 * (6 - 32)
  EXPECT_EQ(y[200], 4.0f);     // ql[72] high 4 | 32 = 36; 0.25 * 4 * 4
  EXPECT_EQ(y[255], 730.25f);  // ql[127] high 7 | 48 = 55; 0.25 * 127 * 23
}

TEST(QuantBlocks, IQ4_NLCodebook) {
  BlockIQ4_NL b{};
  b.d = kF16Half;
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequant(GgmlType::kIQ4_NL, b, 32);
  EXPECT_EQ(y[0], -63.5f);
  EXPECT_EQ(y[8], 0.5f);
  EXPECT_EQ(y[16], 56.5f);
  EXPECT_EQ(y[31], -63.5f);
}

TEST(QuantBlocks, HalfFloatRows) {
  const uint16_t f16[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF};
  float y[4];
  dequantize_row(GgmlType::kF16, f16, y, 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[2], 5.9604644775390625e-08f);  // 2^-24
  EXPECT_EQ(y[3], 65504.0f);
  const uint16_t bf16[3] = {0x3F80, 0xC049, 0x4780};
  dequantize_row(GgmlType::kBF16, bf16, y, 3);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -3.140625f);
  EXPECT_EQ(y[2], 65536.0f);
}

TEST(QuantBlocks, TypeSupport) {
  for (GgmlType t : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kIQ4_NL, GgmlType::kQ8_1}) {
    EXPECT_TRUE(can_dequantize(t));
  }
  EXPECT_FALSE(can_dequantize(GgmlType::kIQ2_XXS));
  EXPECT_FALSE(can_quantize(GgmlType::kQ2_K));
  EXPECT_TRUE(can_quantize(GgmlType::kQ8_K));
  EXPECT_EQ(parse_weight_type("Q4_K").value(), GgmlType::kQ4_K);
  EXPECT_EQ(parse_weight_type("bf16").value(), GgmlType::kBF16);
  EXPECT_EQ(parse_weight_type("q3_k").error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(parse_weight_type("q9_9").error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace specula::quant
