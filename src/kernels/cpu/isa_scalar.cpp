// Portable scalar tier: runs on any x86-64 (or other) CPU without AVX2. Activations stay float32; quantized
// weight rows are dequantized with the quant layer's scalar codecs, then dotted in double precision.
#include <cmath>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/dequant_row.h"

namespace specula::kernels::cpu {
namespace {

float dot_double(const float* w, const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * static_cast<double>(x[i]);
  return static_cast<float>(s);
}

// One weight row at a time: dequantize to float (unless already f32), then dot with every token.
void tile_scalar(const MatrixView& w, int64_t r0, int64_t r1, const void* act, size_t act_stride, int64_t n_tok,
                 float* y, int64_t y_stride) {
  const auto* base = static_cast<const uint8_t*>(act);
  std::vector<float> row(static_cast<size_t>(w.type == format::GgmlType::kF32 ? 0 : w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    const float* wr = reinterpret_cast<const float*>(w.row(r));
    if (w.type != format::GgmlType::kF32) {
      dequantize_row_any(w.type, w.row(r), w.cols, row.data());
      wr = row.data();
    }
    for (int64_t t = 0; t < n_tok; ++t) {
      const auto* x = reinterpret_cast<const float*>(base + static_cast<size_t>(t) * act_stride);
      y[t * y_stride + r] = dot_double(wr, x, w.cols);
    }
  }
}

void s_f16_to_f32(const uint16_t* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(x[i]);
}
void s_bf16_to_f32(const uint16_t* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_fp32(x[i]);
}

void s_rms_norm_row(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps)));
  for (int64_t i = 0; i < n; ++i) out[i] = weight != nullptr ? (x[i] * scale) * weight[i] : x[i] * scale;
}

void s_softmax_row(float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::fmax(m, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += static_cast<double>(x[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * inv;
}

float gelu_tanh_1(float x) {
  const float inner = x + 0.044715f * x * x * x;
  return x / (1.0f + std::exp(-2.0f * 0.7978845608028654f * inner));
}
float silu_1(float x) { return x / (1.0f + std::exp(-x)); }

void s_gelu_tanh(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh_1(x[i]);
}
void s_silu(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu_1(x[i]);
}
void s_gelu_tanh_mul(const float* g, const float* u, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh_1(g[i]) * u[i];
}
void s_silu_mul(const float* g, const float* u, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu_1(g[i]) * u[i];
}

KernelTable make_scalar_table() {
  KernelTable t;
  t.isa = Isa::kScalar;
  t.name = "scalar";
  for (size_t id = 0; id < kMaxTypeId; ++id) {
    if (can_dequantize_row(static_cast<format::GgmlType>(id))) {
      t.tile[id] = &tile_scalar;
      t.act[id] = ActKind::kF32;
    }
  }
  t.quantize_act32 = &quantize_act32;  // unused by this tier (float activations); kept for completeness
  t.quantize_act256 = &quantize_act256;
  t.f16_to_f32 = &s_f16_to_f32;
  t.bf16_to_f32 = &s_bf16_to_f32;
  t.rms_norm_row = &s_rms_norm_row;
  t.softmax_row = &s_softmax_row;
  t.gelu_tanh = &s_gelu_tanh;
  t.silu = &s_silu;
  t.gelu_tanh_mul = &s_gelu_tanh_mul;
  t.silu_mul = &s_silu_mul;
  return t;
}

}  // namespace

const KernelTable& scalar_table() {
  static const KernelTable table = make_scalar_table();
  return table;
}

}  // namespace specula::kernels::cpu
