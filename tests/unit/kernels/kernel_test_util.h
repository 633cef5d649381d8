// Shared helpers for the kernels tests (header-only: the suite compiles *_test.cpp files only): random data,
// weight matrices of every type, the ISA tiers this CPU supports.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "format/ggml_type.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/matrix_view.h"
#include "quant/blocks.h"
#include "quant/quant.h"

namespace specula::kernels::test {

inline constexpr double kU = 1.0 / (1 << 24);  // float32 unit roundoff

inline std::vector<cpu::Isa> supported_tiers() {
  std::vector<cpu::Isa> out;
  for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (cpu::isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// A weight matrix that owns its bytes.
struct OwnedMatrix {
  std::vector<uint8_t> bytes;
  MatrixView view;
};

namespace detail {

template <typename Block>
void patch_blocks(std::vector<uint8_t>& bytes, std::mt19937& rng, void (*fix)(Block&, std::mt19937&)) {
  for (size_t off = 0; off + sizeof(Block) <= bytes.size(); off += sizeof(Block)) {
    Block b;
    std::memcpy(&b, bytes.data() + off, sizeof(Block));
    fix(b, rng);
    std::memcpy(bytes.data() + off, &b, sizeof(Block));
  }
}

inline uint16_t random_scale(std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(0.001f, 0.05f);
  return fp32_to_fp16(dist(rng));
}

// Random bytes everywhere, then finite positive fp16/fp32 scales (random bits could be inf/nan).
inline void randomize_raw(std::vector<uint8_t>& bytes, format::GgmlType type, std::mt19937& rng) {
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  using format::GgmlType;
  switch (type) {
    case GgmlType::kQ8_0: patch_blocks<quant::BlockQ8_0>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); }); break;
    case GgmlType::kQ4_0: patch_blocks<quant::BlockQ4_0>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); }); break;
    case GgmlType::kQ5_0: patch_blocks<quant::BlockQ5_0>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); }); break;
    case GgmlType::kIQ4_NL: patch_blocks<quant::BlockIQ4_NL>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); }); break;
    case GgmlType::kQ4_1:
      patch_blocks<quant::BlockQ4_1>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); b.m = random_scale(r); });
      break;
    case GgmlType::kQ5_1:
      patch_blocks<quant::BlockQ5_1>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); b.m = random_scale(r); });
      break;
    case GgmlType::kQ4_K:
      patch_blocks<quant::BlockQ4_K>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); b.dmin = random_scale(r); });
      break;
    case GgmlType::kQ5_K:
      patch_blocks<quant::BlockQ5_K>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); b.dmin = random_scale(r); });
      break;
    case GgmlType::kQ6_K: patch_blocks<quant::BlockQ6_K>(bytes, rng, [](auto& b, auto& r) { b.d = random_scale(r); }); break;
    case GgmlType::kQ8_K:
      patch_blocks<quant::BlockQ8_K>(bytes, rng, [](auto& b, auto& r) { b.d = fp16_to_fp32(random_scale(r)); });
      break;
    default: break;
  }
}

}  // namespace detail

// rows x cols weights of `type`. raw = false: random normal values through quant::quantize_row (the data a
// GGUF file holds). raw = true: uniformly random block bytes with sane scale fields (covers every code a
// file may contain, e.g. -128 in q8_0 and all the high scale/min bits of the K-quants). Float types
// (and iq4_nl, which has no quantizer) always take the random-values / raw route respectively.
inline OwnedMatrix random_matrix(std::mt19937& rng, format::GgmlType type, int64_t rows, int64_t cols, bool raw) {
  OwnedMatrix m;
  const size_t row_bytes = format::ggml_row_bytes(type, static_cast<size_t>(cols));
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  const bool is_float = type == format::GgmlType::kF32 || type == format::GgmlType::kF16 || type == format::GgmlType::kBF16;
  if (!is_float && (raw || !quant::can_quantize(type))) {
    detail::randomize_raw(m.bytes, type, rng);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      const std::vector<float> v = random_floats(rng, static_cast<size_t>(cols));
      quant::quantize_row(type, v.data(), m.bytes.data() + row_bytes * static_cast<size_t>(r), cols);
    }
  }
  m.view = MatrixView{type, m.bytes.data(), rows, cols, row_bytes};
  return m;
}

inline std::vector<format::GgmlType> matmul_types() {
  using format::GgmlType;
  return {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,   GgmlType::kQ4_0,
          GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kIQ4_NL, GgmlType::kQ4_K,
          GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kQ8_K};
}

}  // namespace specula::kernels::test
