// The KV pool (ARCHITECTURE.md §4): storage for KV-owning layers only, K and V codecs chosen independently.
//  - Full-attention slots: fixed-size pages of `page_tokens` entries; every sequence has one page table shared
//    by all full slots (logical page -> physical page). Pages are reference counted: copy_prefix shares them
//    and the first write into a shared page copies it (copy on write).
//  - Sliding-window slots: a per-sequence ring of R = min(n_ctx, window + max_batch + 1) entries, entry =
//    position mod R. A batch of at most max_batch rows per sequence (the prefill chunk, or 1 + max drafts for
//    speculative verification) never overwrites an entry that a row of the batch, or a later query after
//    rolling the batch back, still needs (W entries for the target, W + 1 for the MTP drafter). Queries of a
//    batch that see later rows of the same batch (bidirectional image blocks) need at most W + max_batch - 1
//    entries, so the same ring holds them; callers raise max_batch to the longest image block they prefill in
//    one chunk (runtime::max_prefill_chunk), and begin_batch refuses a batch above it.
//  - Memory is allocated once at creation from n_ctx and n_seq (every sequence can reach n_ctx), so appends
//    never allocate; creation fails with a clear message when it exceeds max_bytes.
//  - truncate is O(1) (pages stay with the sequence and are reused); clear releases them.
//  - Quantized K types store each key minus the sequence's first key (see centers_keys in kv_type.h); read_k
//    adds it back, attention needs nothing (softmax shift invariance).
//  - Recent window (turboquant.md §6.3 item 4): when K or V is block-quantized, a query at position p reads
//    the positions (p - R, p] from f16 copies (in the codecs' storage domains) and older ones from the packed
//    entries. The split depends only on the query's own position, so chunked prefill, batching and draft
//    rollback give the same results as token-by-token decoding. Copies live in a per-sequence ring of R
//    entries (committed positions) plus a staging area holding the current batch's rows; begin_batch commits
//    the kept part of the previous batch into the ring (kv_pool_recent.cpp). Positions a deep truncation
//    took out of the ring are read packed.
// Thread-safety: none; the engine's scheduler thread owns the pool. Attention and write use the thread pool
// internally.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/aligned.h"
#include "kv/attention.h"
#include "kv/codec.h"
#include "kv/kv_cache.h"
#include "kv/kv_type.h"

namespace specula::kv {

struct KvPoolSlot {
  int layer = 0;       // the model layer that owns this KV (names errors, seeds the rotation)
  int n_kv_heads = 0;
  int head_dim = 0;
  int window = 0;      // sliding window W (a query at p sees p-W+1..p); 0 = full attention
  // Optional per-channel key scale s [head_dim] (every head), positive: when K is block-quantized the pool stores
  // k * s and attends with q / s — the same scores in exact arithmetic — so that channels where the queries are
  // large get more of the codec's precision. Empty: none. The model derives it from its q/k norm weights.
  std::vector<float> k_scale = {};
};

// Positions below a query's own that attention reads at f16 precision when the cache is block-quantized (where
// attention is sharpest). With the sink below and before the key scale, on Gemma 3 270M (c=512, int8x2
// activations) turbo4/turbo4 measured a mean KL against f16 of 0.0039 and turbo3/turbo3 0.0134 with 128
// positions, 0.0049 / 0.0218 with 64 (docs/kv-cache.md).
inline constexpr int kDefaultRecentWindow = 128;
// With the recent window on, the first positions of every sequence are kept at f16 too (the attention sinks,
// which draw a large share of attention), and block-quantized keys are centered on the mean key of positions
// 1..N-1 instead of on the first key (window 64: turbo4/turbo4 0.0065 -> 0.0040, turbo3/turbo3 0.054 -> 0.020,
// 3 chunks).
inline constexpr int kDefaultSinkPositions = 32;

struct KvPoolOptions {
  KvType type_k = KvType::kF16;
  KvType type_v = KvType::kF16;
  int n_ctx = 4096;        // positions per sequence
  int n_seq = 1;
  int max_batch = 512;     // most rows one sequence appends in one batch: max(prefill chunk, 1 + max drafts)
  int page_tokens = 64;
  size_t max_bytes = size_t{8} << 30;
  uint64_t seed = kDefaultRotationSeed;  // TurboQuant rotation seed (per layer: layer_rotation_seed)
  int recent = kDefaultRecentWindow;     // recent window in positions (block-quantized types only); 0 = off
  int sink = kDefaultSinkPositions;      // sink positions kept at f16 (only with the recent window); 0 = off
};

class KvPool final : public KvCache {
 public:
  // Errors: a head dimension a codec cannot store (names the layer), bad sizes, memory above max_bytes.
  static Result<std::unique_ptr<KvPool>> create(std::vector<KvPoolSlot> slots, const KvPoolOptions& options);
  // Bytes create() would allocate (for sizing messages); the same validation errors.
  static Result<size_t> required_bytes(const std::vector<KvPoolSlot>& slots, const KvPoolOptions& options);

  // KvCache
  int n_ctx() const override { return options_.n_ctx; }
  int n_seq() const override { return options_.n_seq; }
  int n_slots() const override { return static_cast<int>(slots_.size()); }
  const KvSlotShape& shape(int slot) const override { return slots_[static_cast<size_t>(slot)].shape; }
  size_t bytes() const override;
  Status begin_batch(std::span<const KvRowRef> rows) override;
  void write(ThreadPool& pool, int slot, std::span<const KvRowRef> rows, const float* k, const float* v) override;
  void attention(ThreadPool& pool, int slot, int n_heads, std::span<const AttnQuery> rows, const float* q, float scale,
                 float* out) const override;
  void read_k(int slot, int seq, int pos, float* out) const override;
  void read_v(int slot, int seq, int pos, float* out) const override;
  // Errors: n_tokens above the length; a length whose sliding-window entries were already overwritten
  // (the sequence must be cleared and re-processed).
  Status truncate(int seq, int n_tokens) override;

  // Sequence operations.
  int length(int seq) const { return seqs_[static_cast<size_t>(seq)].len; }
  void clear(int seq);
  // dst := the first n_tokens of src (dst is cleared first; full-attention pages are shared).
  Status copy_prefix(int src, int dst, int n_tokens);

  // Accounting.
  const KvPoolOptions& options() const { return options_; }
  size_t bytes_per_token(int slot) const;  // K + V bytes of one position of one slot
  int ring_entries() const { return ring_; }
  int recent_entries() const { return recent_ring_; }  // ring entries per sequence and slot; 0: no window
  int sink_positions() const { return sink_; }          // f16 sink positions per sequence and slot; 0: none
  int n_pages() const { return n_pages_; }
  int free_pages() const { return static_cast<int>(free_.size()); }
  const KvCodec& k_codec(int slot) const { return slots_[static_cast<size_t>(slot)].kc; }
  const KvCodec& v_codec(int slot) const { return slots_[static_cast<size_t>(slot)].vc; }
  std::string describe() const;  // one line: types, slots, pages, ring, MiB

 private:
  struct Slot {
    KvSlotShape shape;
    int layer = 0;
    int window = 0;
    KvCodec kc, vc;
    size_t k_row = 0, v_row = 0;  // bytes per entry
    AlignedVector<uint8_t> k, v;
    // Keys are stored as k - k_center[seq] when the K type centers keys (centers_keys): [n_seq, width]
    // floats. Without a sink: the key of the sequence's position 0, set when position 0 is written. With one:
    // the mean key of positions 1..N-1 (kv_pool_sink.cpp), set when position N-1 is written; k_center_s is the
    // same center in kc's storage domain (the sink's raw keys subtract it inside attention). Empty otherwise.
    std::vector<float> k_center, k_center_s;
    // The recent window: f16 codecs, the ring [n_seq, recent_ring_, n_kv_heads * head_dim] and the staging
    // area [rows of the current batch, n_kv_heads * head_dim] of f16 copies of K and V in kc's / vc's storage
    // domains (empty without a recent window; staging grows to the largest batch).
    KvCodec kr, vr;
    AlignedVector<uint8_t> rk, rv, sk, sv;
    // KvPoolSlot::k_scale when K is block-quantized (else empty): every stored key is k * k_scale per head.
    std::vector<float> k_scale;
    // The sink: f16 copies (codecs kr / vr) of positions [0, sink_) of every sequence, [n_seq, sink_, width],
    // K raw (never centered) and V, in kc's / vc's storage domains. These positions are read from here only.
    AlignedVector<uint8_t> hk, hv;
  };
  struct Seq {
    int len = 0;
    int lo = 0;                 // sliding slots: entries [lo, len) are intact
    // Recent window: the staging area holds positions [stage_first, stage_first + stage_n) at rows
    // stage_base.. ; the ring holds the committed positions [ring_lo, ring_end()) (at most recent_ring_ of them).
    int ring_lo = 0;
    int stage_first = 0, stage_n = 0, stage_base = 0;
    // Committed positions end where the staged ones begin, or at the length when nothing is staged.
    int ring_end() const { return stage_n > 0 ? stage_first : len; }
    std::vector<int32_t> pages; // full slots: logical page -> physical page
  };

  KvPool() = default;
  struct Layout {
    int ring = 0, n_pages = 0, recent_ring = 0, sink = 0;
  };
  static Status validate(std::vector<KvPoolSlot>& slots, const KvPoolOptions& o, std::vector<Slot>& out, Layout& layout);
  size_t entry(int slot, int seq, int pos) const;  // entry index in the slot's arrays
  // Bytes of one recent-window copy of one side (K or V): f16 values of every KV head.
  static size_t recent_row_bytes(const KvSlotShape& shape) { return static_cast<size_t>(shape.width()) * 2; }
  bool has_sliding() const { return max_window_ > 0; }
  Status check_truncate(int seq, int n_tokens) const;
  // Keys of the batch minus their sequence's center (recording position 0's key first); returns centered_.
  const float* center_keys(Slot& s, std::span<const KvRowRef> rows, const float* k);
  // The original-domain key of a packed (non-sink) position, still multiplied by the slot's k_scale.
  void read_packed_k(const Slot& s, int slot, int seq, int pos, float* out) const;
  // Appends the runs of packed entries of positions [first, last] of one sequence.
  void add_runs(int slot, int seq, int first, int last, std::vector<KvRun>& runs) const;
  // Recent window (kv_pool_recent.cpp). Commits every sequence's staged rows that survive this batch (and
  // explicit truncations) into its ring and stages the batch's rows; rows are already validated.
  void recent_begin_batch(std::span<const KvRowRef> rows);
  // Copies the staged positions [stage_first, end) of src into dst's ring (src == dst: commit).
  void commit_staging(int src, int dst, int end);
  // Stores the f16 copies of one (row, kv head) vector pair (k already centered) in the staging area.
  void write_recent(Slot& s, const KvRowRef& row, size_t h, const float* k, const float* v) const;
  // Appends the window's runs of a query row (positions up to last, at most R of them, never below first);
  // returns the first position they cover (last + 1 when none). Positions below it are the caller's (packed).
  int add_recent_runs(int slot, int seq, int first, int last, std::vector<KvRun>& runs) const;
  // The sink (kv_pool_sink.cpp). Stores the f16 copies of the batch's rows below sink_ (raw keys).
  void write_sink(Slot& s, std::span<const KvRowRef> rows, const float* k, const float* v) const;
  // The sequence's center from its sink keys 1..N-1 (N = sink_; position 0 when N == 1).
  void compute_center(Slot& s, int seq) const;
  // The sink run of positions [first, last] (all below sink_) of one sequence.
  void add_sink_run(int slot, int seq, int first, int last, std::vector<KvRun>& runs) const;
  // Original-domain K or V of one sink position.
  void read_sink(const Slot& s, bool key, int seq, int pos, float* out) const;
  void copy_sink(int src, int dst);
  int32_t take_page();
  void release_page(int32_t page);
  void make_writable(Seq& s, int first_page, int last_page);

  KvPoolOptions options_;
  std::vector<Slot> slots_;
  std::vector<Seq> seqs_;
  std::vector<int32_t> refs_;  // per physical page
  std::vector<int32_t> free_;
  int ring_ = 0;
  int n_pages_ = 0;
  int max_window_ = 0;
  int recent_ring_ = 0;  // recent-window entries per sequence and slot (0: no window)
  int sink_ = 0;         // sink positions per sequence and slot (0: none)
  std::vector<float> centered_, scaled_;  // write() scratch
  // x[i * head_dim + j] *= s[j] (divide: /=) for rows of head_dim values.
  static void scale_heads(float* x, size_t n_values, const std::vector<float>& s, bool divide);
};

}  // namespace specula::kv
