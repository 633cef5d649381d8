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

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

}  // namespace specula::kernels
