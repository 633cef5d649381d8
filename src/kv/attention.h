// Attention over a packed (codec-encoded) KV cache: the scalar oracle (kv::ref) and the CPU kernel (kv::cpu,
// SIMD + thread pool). Queries are rotated into the K codec's storage domain instead of un-rotating keys, the
// weighted sum of V is formed in V's storage domain and rotated back once per output head, and cached entries
// are decoded one head vector at a time (no dequantized copy of the cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/thread_pool.h"
#include "kv/codec.h"
#include "kv/kv_simd.h"

namespace specula::kv {

// n consecutive cache entries (positions in order): entry i's K at k + i * k_stride, V at v + i * v_stride.
// A recent run holds f16 entries instead (PackedSlot::k_recent / v_recent, recent_stride): the recent window's
// or the sink's. A raw run's keys are not centered (the sink's): their scores subtract q · the row's key shift.
struct KvRun {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  int n = 0;
  bool recent = false;
  bool raw = false;
};

// How one slot's entries are encoded. An entry holds n_kv_heads head vectors back to back.
struct PackedSlot {
  const KvCodec* k_codec = nullptr;
  const KvCodec* v_codec = nullptr;  // same head_dim as k_codec
  int n_kv_heads = 0;
  size_t k_stride = 0;  // bytes per entry: n_kv_heads * k_codec->head_bytes()
  size_t v_stride = 0;
  // The recent window (KvPool): f16 copies of K and V already in k_codec's / v_codec's storage domain (rotated
  // for turbo, centered when the K type centers keys), so scores and the V sum mix them with the packed
  // entries without any other change. Only needed when a run is recent.
  const KvCodec* k_recent = nullptr;
  const KvCodec* v_recent = nullptr;
  size_t recent_stride = 0;  // bytes per entry, K or V: n_kv_heads * k_recent->head_bytes()
};

// The visible entries of every query row: row r's runs are runs[run_begin[r] .. run_begin[r + 1]).
struct PackedRows {
  std::span<const KvRun> runs;
  std::span<const uint32_t> run_begin;  // n_rows + 1 entries
  // Per row (or empty): the center its centered keys had subtracted, [n_kv_heads, head_dim] in K's storage
  // domain, or null. A raw entry's score is scale * q · (k - shift), the same softmax shift as every centered
  // entry's, so raw and centered keys mix exactly.
  std::span<const float* const> key_shift;
  const float* shift(size_t r) const { return key_shift.empty() ? nullptr : key_shift[r]; }
  size_t n_rows() const { return run_begin.empty() ? 0 : run_begin.size() - 1; }
};

// out[r, h, :] = softmax(scale * q[r, h, :] · K_hᵀ) · V_h over row r's entries, K_h/V_h of kv head
// h / (n_heads / n_kv_heads). q, out: [n_rows, n_heads, head_dim] float32. Every row sees at least one entry.
namespace ref {
// Obvious code: decode with the scalar codec, double accumulation, one softmax over all entries.
void packed_attention(const PackedSlot& slot, int n_heads, const PackedRows& rows, const float* q, float scale,
                      float* out);
}  // namespace ref

namespace cpu {
// Work items are (row, kv head, chunk of kChunk entries); chunks merge in order with the log-sum-exp rule.
// Batch and thread invariant: a row's result depends only on its query and entries.
inline constexpr int kChunk = 256;
void packed_attention(ThreadPool& pool, const PackedSlot& slot, int n_heads, const PackedRows& rows, const float* q,
                      float scale, float* out);
void packed_attention_with(const KvSimd& simd, ThreadPool& pool, const PackedSlot& slot, int n_heads,
                           const PackedRows& rows, const float* q, float scale, float* out);
}  // namespace cpu

}  // namespace specula::kv
