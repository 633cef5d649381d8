// kernels::cpu matmul and get_rows: activation quantization, work split over the pool, tile loops.
#include <algorithm>
#include <atomic>
#include <vector>
#include <cstring>

#include "base/aligned.h"
#include "base/check.h"
#include "kernels/cpu/kernel_table.h"
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

void quantize_activations(const KernelTable& k, ThreadPool& pool, ActKind kind, const float* x, int64_t n_tokens,
                          int64_t cols, uint8_t* out, size_t stride) {
  auto one = [&](int64_t t) {
    const float* xt = x + t * cols;
    uint8_t* ot = out + static_cast<size_t>(t) * stride;
    if (kind == ActKind::kQ8x32) {
      k.quantize_act32(xt, cols, reinterpret_cast<ActBlock32*>(ot));
    } else {
      k.quantize_act256(xt, cols, reinterpret_cast<ActBlock256*>(ot));
    }
  };
  if (n_tokens > 1 && n_tokens * cols >= kParallelQuantizeMin) {
    pool.parallel_for(static_cast<size_t>(n_tokens), [&](size_t b, size_t e) {
      for (size_t t = b; t < e; ++t) one(static_cast<int64_t>(t));
    });
  } else {
    for (int64_t t = 0; t < n_tokens; ++t) one(t);
  }
}

std::atomic<bool> g_float_activations{false};

// y[t, r] = dequantized row r · x[t] in float32 (see set_float_activations). Each thread owns a row range.
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

void set_float_activations(bool on) { g_float_activations.store(on); }
bool float_activations() { return g_float_activations.load(); }

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
  if (float_activations()) {
    matmul_float_activations(pool, w, x, n_tokens, y);
    return;
  }
  const ActKind kind = kt.act[id];
  const TileFn tile = kt.tile[id];

  const auto* act = reinterpret_cast<const uint8_t*>(x);
  size_t stride = act_row_bytes(ActKind::kF32, w.cols);
  AlignedVector<uint8_t> quantized;
  if (kind != ActKind::kF32) {
    stride = act_row_bytes(kind, w.cols);
    quantized.resize(stride * static_cast<size_t>(n_tokens));
    quantize_activations(kt, pool, kind, x, n_tokens, w.cols, quantized.data(), stride);
    act = quantized.data();
  }

  // Each thread owns a contiguous row range; a (row, token) result is computed by exactly one tile call and
  // does not depend on the split (see kernel_table.h), so the thread count never changes the output.
  pool.run([&](int ti, int nt) {
    const int64_t r_begin = w.rows * ti / nt;
    const int64_t r_end = w.rows * (ti + 1) / nt;
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowChunk) {
      const int64_t r1 = std::min(r_end, r0 + kRowChunk);
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
        const int64_t nb = std::min(kTokenBlock, n_tokens - t0);
        tile(w, r0, r1, act + static_cast<size_t>(t0) * stride, stride, nb, y + t0 * w.rows, w.rows);
      }
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
