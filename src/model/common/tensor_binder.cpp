#include "model/common/tensor_binder.h"

#include <cstring>

#include "base/half.h"

namespace specula::model {
namespace {

std::string shape_str(std::initializer_list<int64_t> dims) {
  std::string s = "[";
  size_t i = 0;
  for (const int64_t d : dims) s += (i++ ? ", " : "") + std::to_string(d);
  return s + "]";
}

bool shape_is(const format::GgufTensorInfo& t, std::initializer_list<int64_t> dims) {
  if (t.dims.size() != dims.size()) return false;
  size_t i = 0;
  for (const int64_t d : dims) {
    if (t.dims[i++] != d) return false;
  }
  return true;
}

}  // namespace

const format::GgufTensorInfo* TensorBinder::lookup(const std::string& name, bool required) {
  const format::GgufTensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    if (required) problem("missing tensor '" + name + "'");
    return nullptr;
  }
  used_.insert(name);
  return t;
}

kernels::MatrixView TensorBinder::matrix(const std::string& name, int64_t cols, int64_t rows, bool required) {
  const format::GgufTensorInfo* t = lookup(name, required);
  if (t == nullptr) return {};
  if (!shape_is(*t, {cols, rows})) {
    problem(fmt::format("tensor '{}' has shape {}, expected {}", name, t->shape_string(), shape_str({cols, rows})));
    return {};
  }
  const auto span = file_.tensor_data(*t);
  return kernels::MatrixView{t->type, span.data(), rows, cols, format::ggml_row_bytes(t->type, static_cast<size_t>(cols))};
}

MatrixStack TensorBinder::stack(const std::string& name, int64_t cols, int64_t rows, int64_t count, bool required) {
  const format::GgufTensorInfo* t = lookup(name, required);
  if (t == nullptr) return {};
  if (!shape_is(*t, {cols, rows, count})) {
    problem(fmt::format("tensor '{}' has shape {}, expected {}", name, t->shape_string(), shape_str({cols, rows, count})));
    return {};
  }
  const auto span = file_.tensor_data(*t);
  const size_t row_bytes = format::ggml_row_bytes(t->type, static_cast<size_t>(cols));
  MatrixStack s;
  s.first = kernels::MatrixView{t->type, span.data(), rows, cols, row_bytes};
  s.count = count;
  s.matrix_bytes = row_bytes * static_cast<size_t>(rows);
  return s;
}

std::vector<float> TensorBinder::vector(const std::string& name, int64_t n, bool required) {
  const format::GgufTensorInfo* t = lookup(name, required);
  if (t == nullptr) return {};
  if (!shape_is(*t, {n})) {
    problem(fmt::format("tensor '{}' has shape {}, expected {}", name, t->shape_string(), shape_str({n})));
    return {};
  }
  const auto span = file_.tensor_data(*t);
  std::vector<float> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t->type) {
      case format::GgmlType::kF32: std::memcpy(&out[i], span.data() + 4 * i, 4); break;
      case format::GgmlType::kF16: {
        uint16_t h;
        std::memcpy(&h, span.data() + 2 * i, 2);
        out[i] = fp16_to_fp32(h);
        break;
      }
      case format::GgmlType::kBF16: {
        uint16_t h;
        std::memcpy(&h, span.data() + 2 * i, 2);
        out[i] = bf16_to_fp32(h);
        break;
      }
      default:
        problem(fmt::format("tensor '{}' has type {}; 1-D tensors must be f32, f16 or bf16", name,
                            format::ggml_type_name(t->type)));
        return {};
    }
  }
  return out;
}

Status TensorBinder::finish(bool allow_extra) {
  if (!allow_extra) {
    std::vector<std::string> extra;
    for (const auto& t : file_.tensors()) {
      if (used_.count(t.name) == 0) extra.push_back(t.name);
    }
    if (!extra.empty()) {
      std::string list;
      for (size_t i = 0; i < extra.size() && i < 8; ++i) list += (i ? ", " : "") + extra[i];
      if (extra.size() > 8) list += fmt::format(", ... ({} in all)", extra.size());
      problem("unexpected tensors: " + list);
    }
  }
  if (problems_.empty()) return ok_status();
  std::string msg = fmt::format("{}: {} problem{} with the tensors: ", file_.path(), problems_.size(),
                                problems_.size() == 1 ? "" : "s");
  for (size_t i = 0; i < problems_.size() && i < 12; ++i) msg += (i ? "; " : "") + problems_[i];
  if (problems_.size() > 12) msg += fmt::format("; ... ({} more)", problems_.size() - 12);
  return Error(ErrorCode::kCorruptData, msg);
}

}  // namespace specula::model
