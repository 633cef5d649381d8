// Binds GGUF tensors to typed weight fields, checking each tensor's shape, and collects every problem
// (missing, mis-shaped, wrong type, unexpected extra tensors) so that a bad file is reported in one error
// listing all of them rather than the first one only.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "format/gguf_reader.h"
#include "kernels/matrix_view.h"

namespace specula::model {

// A 3-D stack of matrices (MoE experts): matrix e is rows x cols at data + e * matrix_bytes.
struct MatrixStack {
  kernels::MatrixView first;  // matrix 0
  int64_t count = 0;
  size_t matrix_bytes = 0;

  kernels::MatrixView at(int64_t e) const {
    kernels::MatrixView m = first;
    m.data = first.data + static_cast<size_t>(e) * matrix_bytes;
    return m;
  }
};

class TensorBinder {
 public:
  explicit TensorBinder(const format::GgufFile& file) : file_(file) {}

  // A 2-D weight with ggml ne = [cols, rows]. Optional tensors return an empty view when absent.
  kernels::MatrixView matrix(const std::string& name, int64_t cols, int64_t rows, bool required = true);
  // A 3-D stack with ne = [cols, rows, count].
  MatrixStack stack(const std::string& name, int64_t cols, int64_t rows, int64_t count, bool required = true);
  // A 1-D F32/F16/BF16 vector of n values, converted to float32.
  std::vector<float> vector(const std::string& name, int64_t n, bool required = true);
  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

  // Ok when every bound tensor matched and no tensor of the file was left unbound.
  Status finish(bool allow_extra = false);

 private:
  const format::GgufTensorInfo* lookup(const std::string& name, bool required);
  void problem(std::string text) { problems_.push_back(std::move(text)); }

  const format::GgufFile& file_;
  std::set<std::string> used_;
  std::vector<std::string> problems_;
};

}  // namespace specula::model
