#include "kernels/dequant_row.h"

#include "base/check.h"
#include "quant/quant.h"

namespace specula::kernels {

bool can_dequantize_row(format::GgmlType type) { return quant::can_dequantize(type); }

void dequantize_row_any(format::GgmlType type, const uint8_t* row, int64_t n, float* out) {
  SPECULA_CHECK(quant::can_dequantize(type), "cannot dequantize weight type {}", format::ggml_type_name(type));
  quant::dequantize_row(type, row, out, n);
}

}  // namespace specula::kernels
