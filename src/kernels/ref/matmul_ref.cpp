// kernels::ref matmul and get_rows: dequantize each weight row with the scalar codecs, then accumulate
// in double. Obvious and slow on purpose: this is the oracle the cpu kernels are tested against.
#include <vector>

#include "base/check.h"
#include "kernels/dequant_row.h"
#include "kernels/ops.h"

namespace specula::kernels::ref {

void matmul(ThreadPool& /*pool*/, const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    dequantize_row_any(w.type, w.row(r), w.cols, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.cols;
      double s = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) s += static_cast<double>(row[static_cast<size_t>(c)]) * static_cast<double>(xt[c]);
      y[t * w.rows + r] = static_cast<float>(s);
    }
  }
}

void get_rows(ThreadPool& /*pool*/, const MatrixView& table, std::span<const int32_t> ids, float* out) {
  for (size_t t = 0; t < ids.size(); ++t) {
    SPECULA_CHECK(ids[t] >= 0 && ids[t] < table.rows, "get_rows: row {} out of range", ids[t]);
    dequantize_row_any(table.type, table.row(ids[t]), table.cols, out + static_cast<int64_t>(t) * table.cols);
  }
}

}  // namespace specula::kernels::ref
