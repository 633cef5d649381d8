// Type dispatch for the row codecs and the user-facing weight type parser.
#include "quant/quant.h"

#include <cstring>
#include <string>

#include "base/check.h"
#include "base/half.h"
#include "quant/rounding.h"

namespace specula::quant {
namespace {

constexpr GgmlType kQuantizable[] = {
    GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0, GgmlType::kQ4_1,
    GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ8_1, GgmlType::kQ4_K,
    GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kQ8_K,
};

template <typename Block>
const Block* as_blocks(const void* p) {
  return static_cast<const Block*>(p);
}
template <typename Block>
Block* as_blocks(void* p) {
  return static_cast<Block*>(p);
}

}  // namespace

bool can_dequantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: case GgmlType::kF16: case GgmlType::kBF16:
    case GgmlType::kQ4_0: case GgmlType::kQ4_1: case GgmlType::kQ5_0: case GgmlType::kQ5_1:
    case GgmlType::kQ8_0: case GgmlType::kQ8_1:
    case GgmlType::kQ2_K: case GgmlType::kQ3_K: case GgmlType::kQ4_K: case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: case GgmlType::kQ8_K: case GgmlType::kIQ4_NL:
      return true;
    default:
      return false;
  }
}

bool can_quantize(GgmlType type) {
  for (GgmlType t : kQuantizable) {
    if (t == type) return true;
  }
  return false;
}

std::vector<GgmlType> quantizable_types() { return {std::begin(kQuantizable), std::end(kQuantizable)}; }

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  SPECULA_CHECK(n >= 0);
  const auto* bytes = static_cast<const uint8_t*>(src);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = fp16_to_fp32(h);
      }
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes + 2 * i, 2);
        dst[i] = bf16_to_fp32(h);
      }
      return;
    case GgmlType::kQ4_0: return dequantize_row_q4_0(as_blocks<BlockQ4_0>(src), dst, n);
    case GgmlType::kQ4_1: return dequantize_row_q4_1(as_blocks<BlockQ4_1>(src), dst, n);
    case GgmlType::kQ5_0: return dequantize_row_q5_0(as_blocks<BlockQ5_0>(src), dst, n);
    case GgmlType::kQ5_1: return dequantize_row_q5_1(as_blocks<BlockQ5_1>(src), dst, n);
    case GgmlType::kQ8_0: return dequantize_row_q8_0(as_blocks<BlockQ8_0>(src), dst, n);
    case GgmlType::kQ8_1: return dequantize_row_q8_1(as_blocks<BlockQ8_1>(src), dst, n);
    case GgmlType::kQ2_K: return dequantize_row_q2_k(as_blocks<BlockQ2_K>(src), dst, n);
    case GgmlType::kQ3_K: return dequantize_row_q3_k(as_blocks<BlockQ3_K>(src), dst, n);
    case GgmlType::kQ4_K: return dequantize_row_q4_k(as_blocks<BlockQ4_K>(src), dst, n);
    case GgmlType::kQ5_K: return dequantize_row_q5_k(as_blocks<BlockQ5_K>(src), dst, n);
    case GgmlType::kQ6_K: return dequantize_row_q6_k(as_blocks<BlockQ6_K>(src), dst, n);
    case GgmlType::kQ8_K: return dequantize_row_q8_k(as_blocks<BlockQ8_K>(src), dst, n);
    case GgmlType::kIQ4_NL: return dequantize_row_iq4_nl(as_blocks<BlockIQ4_NL>(src), dst, n);
    default:
      SPECULA_CHECK(false, "dequantize_row: unsupported type {}", format::ggml_type_name(type));
  }
}

void quantize_row(GgmlType type, const float* src, void* dst, int64_t n) {
  SPECULA_CHECK(n >= 0);
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16: return quantize_row_f16(src, as_blocks<uint16_t>(dst), n);
    case GgmlType::kBF16: return quantize_row_bf16(src, as_blocks<uint16_t>(dst), n);
    case GgmlType::kQ4_0: return quantize_row_q4_0(src, as_blocks<BlockQ4_0>(dst), n);
    case GgmlType::kQ4_1: return quantize_row_q4_1(src, as_blocks<BlockQ4_1>(dst), n);
    case GgmlType::kQ5_0: return quantize_row_q5_0(src, as_blocks<BlockQ5_0>(dst), n);
    case GgmlType::kQ5_1: return quantize_row_q5_1(src, as_blocks<BlockQ5_1>(dst), n);
    case GgmlType::kQ8_0: return quantize_row_q8_0(src, as_blocks<BlockQ8_0>(dst), n);
    case GgmlType::kQ8_1: return quantize_row_q8_1(src, as_blocks<BlockQ8_1>(dst), n);
    case GgmlType::kQ4_K: return quantize_row_q4_k(src, as_blocks<BlockQ4_K>(dst), n);
    case GgmlType::kQ5_K: return quantize_row_q5_k(src, as_blocks<BlockQ5_K>(dst), n);
    case GgmlType::kQ6_K: return quantize_row_q6_k(src, as_blocks<BlockQ6_K>(dst), n);
    case GgmlType::kQ8_K: return quantize_row_q8_k(src, as_blocks<BlockQ8_K>(dst), n);
    default:
      SPECULA_CHECK(false, "quantize_row: unsupported type {}", format::ggml_type_name(type));
  }
}

Result<GgmlType> parse_weight_type(std::string_view name) {
  const auto type = format::parse_ggml_type(name);
  if (type && can_quantize(*type)) return *type;
  std::string list;
  for (GgmlType t : kQuantizable) {
    if (!list.empty()) list += ", ";
    list += format::ggml_type_name(t);
  }
  if (type) {
    return make_error(ErrorCode::kUnsupported, "cannot quantize to type '{}' (supported: {})", name, list);
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown weight type '{}' (supported: {})", name, list);
}

}  // namespace specula::quant
