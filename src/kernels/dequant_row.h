// Scalar dequantization of one weight row of any type the build can decode (float types directly, the
// quantized ones through the quant layer's reference codecs). Used by kernels::ref, by the scalar tier and
// by get_rows for types without a SIMD path.
#pragma once

#include <cstdint>

#include "format/ggml_type.h"

namespace specula::kernels {

bool can_dequantize_row(format::GgmlType type);
// out[0..n) = row values; n must be a multiple of the type's block size (checked).
void dequantize_row_any(format::GgmlType type, const uint8_t* row, int64_t n, float* out);

}  // namespace specula::kernels
