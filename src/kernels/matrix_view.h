// A read-only view of a weight matrix in any ggml type, as it lies in a GGUF mapping or a buffer.
// Row r holds `cols` values starting at data + r * row_bytes. PyTorch Linear weights [out, in] map to
// rows = out, cols = in (GGUF ne = [in, out]).
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/ggml_type.h"

namespace specula::kernels {

struct MatrixView {
  format::GgmlType type = format::GgmlType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;  // bytes of one row (ggml_row_bytes(type, cols) for packed tensors)
  // One int8 activation pass even under ActPrecision::kInt8x2 (kernels/ops.h). Set on a model's output
  // projection: its rounding feeds no later layer (on Gemma 3 270M it adds a mean KL of 2e-5 to an f32 vs f16
  // cache comparison, where the layers' roundings add 0.006) while it is most of a decode step's weight reads.
  bool int8_only = false;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

}  // namespace specula::kernels
