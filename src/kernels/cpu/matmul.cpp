// kernels::cpu matmul and get_rows: activation quantization, work split over the pool, tile loops.
#include <algorithm>
#include <atomic>
#include <vector>
#include <cstring>

#include "base/aligned.h"
#include "base/check.h"
#include "kernels/cpu/kernel_table.h"
#include "kernels/act_quant.h"
#include "kernels/dequant_row.h"
#include "kernels/ops.h"

namespace specula::kernels::cpu {
namespace {

// Tokens per tile call: their quantized activations (<= 64 x a few KiB) stay in L2 while a row chunk
// streams past them. Rows per chunk: the weight rows a chunk revisits for every token block.
constexpr int64_t kTokenBlock = 64;
constexpr int64_t kRowChunk = 32;
// Below this many activation values, quantizing on the calling thread beats a pool dispatch.
constexpr int64_t kParallelQuantizeMin = 1 << 15;

// One token's activations into `passes` consecutive activation rows of `stride` bytes: row 0 = int8(x); with
// two passes row 1 = int8(x - dequant(row 0)), the residual of the first rounding (scratch: cols floats).
void quantize_token(const KernelTable& k, ActKind kind, const float* x, int64_t cols, int passes, uint8_t* out,
                    size_t stride, float* scratch) {
  auto quantize = [&](const float* src, uint8_t* dst) {
    if (kind == ActKind::kQ8x32) {
      k.quantize_act32(src, cols, reinterpret_cast<ActBlock32*>(dst));
    } else {
      k.quantize_act256(src, cols, reinterpret_cast<ActBlock256*>(dst));
    }
  };
  quantize(x, out);
  if (passes == 1) return;
  if (kind == ActKind::kQ8x32) {
    dequantize_act32(reinterpret_cast<const ActBlock32*>(out), cols, scratch);
  } else {
    dequantize_act256(reinterpret_cast<const ActBlock256*>(out), cols, scratch);
  }
  for (int64_t c = 0; c < cols; ++c) scratch[c] = x[c] - scratch[c];
  quantize(scratch, out + stride);
}

void quantize_activations(const KernelTable& k, ThreadPool& pool, ActKind kind, const float* x, int64_t n_tokens,
                          int64_t cols, int passes, uint8_t* out, size_t stride) {
  auto range = [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(passes > 1 ? static_cast<size_t>(cols) : 0);
    for (int64_t t = begin; t < end; ++t) {
      quantize_token(k, kind, x + t * cols, cols, passes, out + static_cast<size_t>(t * passes) * stride, stride,
                     scratch.data());
    }
  };
  if (n_tokens > 1 && n_tokens * cols * passes >= kParallelQuantizeMin) {
    pool.parallel_for(static_cast<size_t>(n_tokens), [&](size_t b, size_t e) {
      range(static_cast<int64_t>(b), static_cast<int64_t>(e));
    });
  } else {
    range(0, n_tokens);
  }
}

std::atomic<ActPrecision> g_act_precision{ActPrecision::kInt8};

// y[t, r] = dequantized row r · x[t] in float32 (ActPrecision::kFloat). Each thread owns a row range.
void matmul_float_activations(ThreadPool& pool, const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  constexpr int64_t kLanes = 16;
  pool.run([&](int ti, int nt) {
    const int64_t r_begin = w.rows * ti / nt;
    const int64_t r_end = w.rows * (ti + 1) / nt;
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = r_begin; r < r_end; ++r) {
      dequantize_row_any(w.type, w.row(r), w.cols, row.data());
      for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xt = x + t * w.cols;
        float acc[kLanes] = {};
        int64_t c = 0;
        for (; c + kLanes <= w.cols; c += kLanes) {
          for (int64_t j = 0; j < kLanes; ++j) acc[j] += row[static_cast<size_t>(c + j)] * xt[c + j];
        }
        double sum = 0.0;
        for (; c < w.cols; ++c) sum += static_cast<double>(row[static_cast<size_t>(c)]) * static_cast<double>(xt[c]);
        for (const float a : acc) sum += static_cast<double>(a);
        y[t * w.rows + r] = static_cast<float>(sum);
      }
    }
  });
}

}  // namespace

void set_act_precision(ActPrecision p) { g_act_precision.store(p); }
ActPrecision act_precision() { return g_act_precision.load(); }

std::optional<ActPrecision> parse_act_precision(std::string_view name) {
  for (const ActPrecision p : {ActPrecision::kInt8, ActPrecision::kInt8x2, ActPrecision::kFloat}) {
    if (name == act_precision_name(p)) return p;
  }
  return std::nullopt;
}

const char* act_precision_name(ActPrecision p) {
  switch (p) {
    case ActPrecision::kInt8: return "int8";
    case ActPrecision::kInt8x2: return "int8x2";
    case ActPrecision::kFloat: return "f32";
  }
  return "?";
}

void matmul_with(const KernelTable& k, ThreadPool& pool, const MatrixView& w, const float* x, int64_t n_tokens,
                 float* y) {
  if (n_tokens <= 0 || w.rows <= 0) return;
  const auto id = static_cast<size_t>(w.type);
  SPECULA_CHECK(id < kMaxTypeId, "matmul: unknown weight type {}", id);
  // Types without a SIMD kernel in this tier (q2_K, q3_K, q8_1) use the scalar tier's generic tile
  // (dequantize the row, double-precision dot): slow but exact enough, and never a crash.
  const KernelTable& kt = k.tile[id] != nullptr ? k : scalar_table();
  SPECULA_CHECK(kt.tile[id] != nullptr, "matmul: weight type {} cannot be decoded", format::ggml_type_name(w.type));
  const int64_t block = format::ggml_traits(w.type).block_size;
  SPECULA_CHECK(w.cols % block == 0, "matmul: {} columns are not a multiple of the {} block size {}", w.cols,
                format::ggml_type_name(w.type), block);
  const ActPrecision precision = act_precision();
  if (precision == ActPrecision::kFloat) {
    matmul_float_activations(pool, w, x, n_tokens, y);
    return;
  }
  const ActKind kind = kt.act[id];
  const TileFn tile = kt.tile[id];

  // With int8x2 every token becomes two activation rows (value, residual) that the tiles treat as tokens;
  // their two results are summed below, so a token's output still depends on that token alone.
  const int passes = kind != ActKind::kF32 && precision == ActPrecision::kInt8x2 && !w.int8_only ? 2 : 1;
  const int64_t n_rows = n_tokens * passes;
  const auto* act = reinterpret_cast<const uint8_t*>(x);
  size_t stride = act_row_bytes(ActKind::kF32, w.cols);
  AlignedVector<uint8_t> quantized;
  if (kind != ActKind::kF32) {
    stride = act_row_bytes(kind, w.cols);
    quantized.resize(stride * static_cast<size_t>(n_rows));
    quantize_activations(kt, pool, kind, x, n_tokens, w.cols, passes, quantized.data(), stride);
    act = quantized.data();
  }
  std::vector<float> pass_out(passes > 1 ? static_cast<size_t>(n_rows * w.rows) : 0);
  float* out = passes > 1 ? pass_out.data() : y;

  // Each thread owns a contiguous row range; a (row, token) result is computed by exactly one tile call and
  // does not depend on the split (see kernel_table.h), so the thread count never changes the output.
  pool.run([&](int ti, int nt) {
    const int64_t r_begin = w.rows * ti / nt;
    const int64_t r_end = w.rows * (ti + 1) / nt;
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowChunk) {
      const int64_t r1 = std::min(r_end, r0 + kRowChunk);
      for (int64_t t0 = 0; t0 < n_rows; t0 += kTokenBlock) {
        const int64_t nb = std::min(kTokenBlock, n_rows - t0);
        tile(w, r0, r1, act + static_cast<size_t>(t0) * stride, stride, nb, out + t0 * w.rows, w.rows);
      }
    }
    if (passes == 1) return;
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* value = out + 2 * t * w.rows;
      const float* residual = value + w.rows;
      for (int64_t r = r_begin; r < r_end; ++r) y[t * w.rows + r] = value[r] + residual[r];
    }
  });
}

void get_rows_with(const KernelTable& k, ThreadPool& pool, const MatrixView& table, std::span<const int32_t> ids,
                   float* out) {
  for (const int32_t id : ids) {
    SPECULA_CHECK(id >= 0 && id < table.rows, "get_rows: row {} out of range [0, {})", id, table.rows);
  }
  auto one = [&](size_t t) {
    const uint8_t* src = table.row(ids[t]);
    float* dst = out + static_cast<int64_t>(t) * table.cols;
    switch (table.type) {
      case format::GgmlType::kF32: std::memcpy(dst, src, static_cast<size_t>(table.cols) * sizeof(float)); break;
      case format::GgmlType::kF16: k.f16_to_f32(reinterpret_cast<const uint16_t*>(src), table.cols, dst); break;
      case format::GgmlType::kBF16: k.bf16_to_f32(reinterpret_cast<const uint16_t*>(src), table.cols, dst); break;
      default: dequantize_row_any(table.type, src, table.cols, dst); break;
    }
  };
  if (ids.size() >= 8) {
    pool.parallel_for(ids.size(), [&](size_t b, size_t e) {
      for (size_t t = b; t < e; ++t) one(t);
    });
  } else {
    for (size_t t = 0; t < ids.size(); ++t) one(t);
  }
}

void matmul(ThreadPool& pool, const MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  matmul_with(best_table(), pool, w, x, n_tokens, y);
}

void get_rows(ThreadPool& pool, const MatrixView& table, std::span<const int32_t> ids, float* out) {
  get_rows_with(best_table(), pool, table, ids, out);
}

}  // namespace specula::kernels::cpu
