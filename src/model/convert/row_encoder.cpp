#include "model/convert/row_encoder.h"

#include <algorithm>
#include <vector>

#include "quant/quant.h"

namespace specula::model {

Status write_encoded_rows(GgufStreamWriter& w, ThreadPool& pool, size_t row_bytes, int64_t rows,
                          const EncodedRowSource& source, size_t chunk_bytes) {
  const int64_t chunk_rows = std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes / std::max<size_t>(row_bytes, 1)));
  std::vector<uint8_t> out(static_cast<size_t>(std::min(rows, chunk_rows)) * row_bytes);
  for (int64_t first = 0; first < rows; first += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - first);
    pool.parallel_for(static_cast<size_t>(n), [&](size_t begin, size_t end) {
      for (size_t r = begin; r < end; ++r) source(first + static_cast<int64_t>(r), out.data() + r * row_bytes);
    });
    SPECULA_RETURN_IF_ERROR(w.write({out.data(), static_cast<size_t>(n) * row_bytes}));
  }
  return ok_status();
}

Status encode_rows(GgufStreamWriter& w, ThreadPool& pool, format::GgmlType type, int64_t cols, int64_t rows,
                   const RowSource& source, size_t chunk_bytes) {
  if (!quant::can_quantize(type)) {
    return make_error(ErrorCode::kUnsupported, "cannot encode tensors of type {}", format::ggml_type_name(type));
  }
  const size_t row_bytes = format::ggml_row_bytes(type, static_cast<size_t>(cols));
  return write_encoded_rows(
      w, pool, row_bytes, rows,
      [&](int64_t row, uint8_t* out) {
        thread_local std::vector<float> values;
        values.resize(static_cast<size_t>(cols));
        source(row, values.data());
        quant::quantize_row(type, values.data(), out, cols);
      },
      chunk_bytes);
}

}  // namespace specula::model
