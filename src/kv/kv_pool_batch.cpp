// KvPool: the per-batch operations (begin_batch, write, attention, reads).
#include <algorithm>
#include <vector>

#include "base/check.h"
#include "kv/attention.h"
#include "kv/kv_pool.h"

namespace specula::kv {
namespace {

struct SeqSpan {
  int seq = 0;
  int first = 0;
  int last = 0;
  int count = 0;
};

}  // namespace

Status KvPool::begin_batch(std::span<const KvRowRef> rows) {
  // Validate everything first so that an error leaves the pool unchanged.
  std::vector<SeqSpan> spans;
  std::vector<int> span_of(static_cast<size_t>(options_.n_seq), -1);
  for (size_t r = 0; r < rows.size(); ++r) {
    const KvRowRef& row = rows[r];
    if (row.seq < 0 || row.seq >= options_.n_seq) {
      return make_error(ErrorCode::kInvalidArgument, "row {}: sequence {} is outside the cache's {} sequences", r, row.seq,
                        options_.n_seq);
    }
    int& si = span_of[static_cast<size_t>(row.seq)];
    if (si < 0) {
      si = static_cast<int>(spans.size());
      spans.push_back({row.seq, row.pos, row.pos, 1});
      continue;
    }
    SeqSpan& sp = spans[static_cast<size_t>(si)];
    if (row.pos != sp.last + 1) {
      return make_error(ErrorCode::kInvalidArgument, "row {}: sequence {} continues at position {} after {}; rows of a "
                        "sequence need consecutive positions", r, row.seq, row.pos, sp.last);
    }
    sp.last = row.pos;
    ++sp.count;
  }
  for (const SeqSpan& sp : spans) {
    const Seq& s = seqs_[static_cast<size_t>(sp.seq)];
    if (sp.first < 0 || sp.first > s.len) {
      return make_error(ErrorCode::kInvalidArgument, "sequence {} has {} cached tokens; a batch cannot start at position {}",
                        sp.seq, s.len, sp.first);
    }
    if (sp.last >= options_.n_ctx) {
      return make_error(ErrorCode::kOutOfRange, "sequence {} is full: position {} is outside the context of {} tokens",
                        sp.seq, sp.last, options_.n_ctx);
    }
    if (has_sliding() && sp.count > options_.max_batch) {
      return make_error(ErrorCode::kInvalidArgument, "a batch of {} rows for sequence {} exceeds the KV cache's maximum "
                        "of {} rows per sequence", sp.count, sp.seq, options_.max_batch);
    }
    if (sp.first < s.len) SPECULA_RETURN_IF_ERROR(check_truncate(sp.seq, sp.first));
  }
  if (recent_ring_ > 0) recent_begin_batch(rows);
  for (const SeqSpan& sp : spans) {
    Seq& s = seqs_[static_cast<size_t>(sp.seq)];
    s.len = sp.first;
    if (sp.first == 0) s.lo = 0;
    make_writable(s, sp.first / options_.page_tokens, sp.last / options_.page_tokens);
    s.len = sp.last + 1;
    if (has_sliding()) s.lo = std::max(s.lo, s.len - ring_);
  }
  return ok_status();
}

void KvPool::write(ThreadPool& pool, int slot, std::span<const KvRowRef> rows, const float* k, const float* v) {
  Slot& s = slots_[static_cast<size_t>(slot)];
  const size_t heads = static_cast<size_t>(s.shape.n_kv_heads);
  const size_t d = static_cast<size_t>(s.shape.head_dim);
  if (!s.k_scale.empty()) {
    scaled_.assign(k, k + rows.size() * heads * d);
    scale_heads(scaled_.data(), scaled_.size(), s.k_scale, false);
    k = scaled_.data();
  }
  // Sink rows first (raw keys): a batch that completes the sink computes its sequence's center from them.
  if (sink_ > 0) write_sink(s, rows, k, v);
  if (!s.k_center.empty()) k = center_keys(s, rows, k);
  pool.parallel_for(rows.size() * heads, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      const size_t r = t / heads, h = t % heads;
      if (rows[r].pos < sink_) continue;  // read from the sink only
      const size_t e = entry(slot, rows[r].seq, rows[r].pos);
      const size_t src = (r * heads + h) * d;
      s.kc.encode(k + src, s.k.data() + e * s.k_row + h * s.kc.head_bytes());
      s.vc.encode(v + src, s.v.data() + e * s.v_row + h * s.vc.head_bytes());
      if (recent_ring_ > 0) write_recent(s, rows[r], h, k + src, v + src);
    }
  });
}

const float* KvPool::center_keys(Slot& s, std::span<const KvRowRef> rows, const float* k) {
  const size_t w = static_cast<size_t>(s.shape.width());
  for (size_t r = 0; r < rows.size(); ++r) {
    if (sink_ > 0) {
      if (rows[r].pos == sink_ - 1) compute_center(s, rows[r].seq);
    } else if (rows[r].pos == 0) {
      std::copy_n(k + r * w, w, s.k_center.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(rows[r].seq) * w));
    }
  }
  centered_.resize(rows.size() * w);
  for (size_t r = 0; r < rows.size(); ++r) {
    const float* c = s.k_center.data() + static_cast<size_t>(rows[r].seq) * w;
    for (size_t i = 0; i < w; ++i) centered_[r * w + i] = k[r * w + i] - c[i];
  }
  return centered_.data();
}

void KvPool::add_runs(int slot, int seq, int first, int last, std::vector<KvRun>& runs) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  // Runs end at page (or ring) boundaries; the entry of a run's first position locates it.
  const int pt = s.window > 0 ? ring_ : options_.page_tokens;
  for (int p = first; p <= last;) {
    const int n = std::min(last - p + 1, pt - p % pt);
    const size_t e = entry(slot, seq, p);
    runs.push_back({s.k.data() + e * s.k_row, s.v.data() + e * s.v_row, n, false});
    p += n;
  }
}

void KvPool::attention(ThreadPool& pool, int slot, int n_heads, std::span<const AttnQuery> rows, const float* q,
                       float scale, float* out) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  std::vector<KvRun> runs, recent;
  std::vector<uint32_t> run_begin{0};
  std::vector<const float*> shift;
  const size_t w = static_cast<size_t>(s.shape.width());
  for (const AttnQuery& row : rows) {
    const Seq& sq = seqs_[static_cast<size_t>(row.seq)];
    SPECULA_CHECK(row.first >= 0 && row.first <= row.last && row.last < sq.len,
                  "attention over positions {}..{} of sequence {} with {} tokens", row.first, row.last, row.seq, sq.len);
    SPECULA_CHECK(s.window == 0 || row.first >= sq.lo, "sliding entry {} of sequence {} was overwritten", row.first,
                  row.seq);
    // The sink's entries, the packed ones, then the recent window's copies (positions in order).
    int first = row.first;
    const bool sink = first < sink_;
    if (sink) {
      add_sink_run(slot, row.seq, first, std::min(row.last, sink_ - 1), runs);
      first = sink_;
    }
    if (first <= row.last) {
      recent.clear();
      const int split = recent_ring_ > 0 ? add_recent_runs(slot, row.seq, first, row.last, recent) : row.last + 1;
      if (split > first) add_runs(slot, row.seq, first, split - 1, runs);
      runs.insert(runs.end(), recent.begin(), recent.end());
    }
    run_begin.push_back(static_cast<uint32_t>(runs.size()));
    // Raw sink keys next to centered ones: their scores take the same shift.
    const bool mixed = sink && row.last >= sink_ && !s.k_center_s.empty();
    shift.push_back(mixed ? s.k_center_s.data() + static_cast<size_t>(row.seq) * w : nullptr);
  }
  PackedSlot packed{&s.kc, &s.vc, s.shape.n_kv_heads, s.k_row, s.v_row};
  if (recent_ring_ > 0) {
    packed.k_recent = &s.kr;
    packed.v_recent = &s.vr;
    packed.recent_stride = recent_row_bytes(s.shape);
  }
  std::vector<float> q_scaled;
  if (!s.k_scale.empty()) {  // scores q/s . k*s = q . k
    q_scaled.assign(q, q + rows.size() * static_cast<size_t>(n_heads) * static_cast<size_t>(s.shape.head_dim));
    scale_heads(q_scaled.data(), q_scaled.size(), s.k_scale, true);
    q = q_scaled.data();
  }
  cpu::packed_attention(pool, packed, n_heads, PackedRows{runs, run_begin, shift}, q, scale, out);
}

void KvPool::read_k(int slot, int seq, int pos, float* out) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  SPECULA_CHECK(pos >= 0 && pos < seqs_[static_cast<size_t>(seq)].len);
  if (pos < sink_) {
    read_sink(s, true, seq, pos, out);
  } else {
    read_packed_k(s, slot, seq, pos, out);
  }
  if (!s.k_scale.empty()) scale_heads(out, static_cast<size_t>(s.shape.width()), s.k_scale, true);
}

void KvPool::read_packed_k(const Slot& s, int slot, int seq, int pos, float* out) const {
  const size_t e = entry(slot, seq, pos);
  for (int h = 0; h < s.shape.n_kv_heads; ++h) {
    s.kc.decode_original(s.k.data() + e * s.k_row + static_cast<size_t>(h) * s.kc.head_bytes(),
                         out + static_cast<size_t>(h) * static_cast<size_t>(s.shape.head_dim));
  }
  if (!s.k_center.empty()) {
    const size_t w = static_cast<size_t>(s.shape.width());
    const float* c = s.k_center.data() + static_cast<size_t>(seq) * w;
    for (size_t i = 0; i < w; ++i) out[i] += c[i];
  }
}

void KvPool::read_v(int slot, int seq, int pos, float* out) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  SPECULA_CHECK(pos >= 0 && pos < seqs_[static_cast<size_t>(seq)].len);
  if (pos < sink_) return read_sink(s, false, seq, pos, out);
  const size_t e = entry(slot, seq, pos);
  for (int h = 0; h < s.shape.n_kv_heads; ++h) {
    s.vc.decode_original(s.v.data() + e * s.v_row + static_cast<size_t>(h) * s.vc.head_bytes(),
                         out + static_cast<size_t>(h) * static_cast<size_t>(s.shape.head_dim));
  }
}

}  // namespace specula::kv
