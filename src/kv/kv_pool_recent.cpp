// KvPool: the recent window (kv_pool.h). A query at p reads positions (p - R, p] from f16 copies; committed
// copies live in a per-sequence ring of R entries (entry = position mod R), the current batch's rows in a
// staging area that begin_batch commits when the next batch starts (only what survived rollback).
#include <algorithm>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kv/kv_pool.h"

namespace specula::kv {
void KvPool::recent_begin_batch(std::span<const KvRowRef> rows) {
  // Per sequence: the batch's first position and row count (rows of a sequence are consecutive positions).
  std::vector<int> first(static_cast<size_t>(options_.n_seq), -1), count(static_cast<size_t>(options_.n_seq), 0);
  for (const KvRowRef& r : rows) {
    if (first[static_cast<size_t>(r.seq)] < 0) first[static_cast<size_t>(r.seq)] = r.pos;
    ++count[static_cast<size_t>(r.seq)];
  }
  // Commit what the previous batch staged and this batch keeps (it truncates from its first position on).
  for (int q = 0; q < options_.n_seq; ++q) {
    Seq& s = seqs_[static_cast<size_t>(q)];
    const int keep = first[static_cast<size_t>(q)] >= 0 ? std::min(s.len, first[static_cast<size_t>(q)]) : s.len;
    if (s.stage_n > 0) commit_staging(q, q, std::min(keep, s.stage_first + s.stage_n));
    s.stage_n = 0;
    s.ring_lo = std::min(s.ring_lo, keep);  // committed up to keep (the batch below stages from there)
  }
  // Stage this batch: each sequence's rows are contiguous in the staging area.
  int base = 0;
  for (int q = 0; q < options_.n_seq; ++q) {
    if (first[static_cast<size_t>(q)] < 0) continue;
    Seq& s = seqs_[static_cast<size_t>(q)];
    s.stage_first = first[static_cast<size_t>(q)];
    s.stage_n = count[static_cast<size_t>(q)];
    s.stage_base = base;
    base += count[static_cast<size_t>(q)];
  }
  for (Slot& sl : slots_) {
    const size_t need = static_cast<size_t>(base) * recent_row_bytes(sl.shape);
    if (sl.sk.size() < need) {
      sl.sk.resize(need);
      sl.sv.resize(need);
    }
  }
}

void KvPool::commit_staging(int src, int dst, int end) {
  const Seq& s = seqs_[static_cast<size_t>(src)];
  Seq& d = seqs_[static_cast<size_t>(dst)];
  if (end <= s.stage_first) return;
  SPECULA_DCHECK(end <= s.stage_first + s.stage_n);
  const int from = std::max(s.stage_first, end - recent_ring_);
  for (Slot& sl : slots_) {
    const size_t n = recent_row_bytes(sl.shape);
    for (int p = from; p < end; ++p) {
      const size_t at = static_cast<size_t>(s.stage_base + p - s.stage_first) * n;
      const size_t to = (static_cast<size_t>(dst) * static_cast<size_t>(recent_ring_) + static_cast<size_t>(p % recent_ring_)) * n;
      std::memcpy(sl.rk.data() + to, sl.sk.data() + at, n);
      std::memcpy(sl.rv.data() + to, sl.sv.data() + at, n);
    }
  }
  d.ring_lo = std::max(d.ring_lo, end - recent_ring_);
}

void KvPool::write_recent(Slot& s, const KvRowRef& row, size_t h, const float* k, const float* v) const {
  const Seq& sq = seqs_[static_cast<size_t>(row.seq)];
  SPECULA_DCHECK(row.pos >= sq.stage_first && row.pos < sq.stage_first + sq.stage_n);
  const size_t d = static_cast<size_t>(s.shape.head_dim);
  const size_t off = static_cast<size_t>(sq.stage_base + row.pos - sq.stage_first) * recent_row_bytes(s.shape) + h * s.kr.head_bytes();
  thread_local std::vector<float> buf;
  buf.assign(k, k + d);
  s.kc.to_storage(buf.data());
  s.kr.encode(buf.data(), s.sk.data() + off);
  buf.assign(v, v + d);
  s.vc.to_storage(buf.data());
  s.vr.encode(buf.data(), s.sv.data() + off);
}

int KvPool::add_recent_runs(int slot, int seq, int first, int last, std::vector<KvRun>& runs) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  const Seq& sq = seqs_[static_cast<size_t>(seq)];
  const size_t n = recent_row_bytes(s.shape);
  const int lo = std::max(first, last - options_.recent + 1);
  // Staged part: [max(lo, stage_first), last].
  const int staged = sq.stage_n > 0 ? std::max(lo, sq.stage_first) : last + 1;
  const int ring_end = std::min({staged, sq.ring_end(), last + 1});  // ring part: [ring_from, ring_end)
  const int ring_from = std::max({lo, sq.ring_lo, sq.ring_end() - recent_ring_});
  const int covered = ring_from < ring_end ? ring_from : staged;
  for (int p = ring_from; p < ring_end;) {
    const int m = std::min(ring_end - p, recent_ring_ - p % recent_ring_);  // up to the ring's wrap
    const size_t e = (static_cast<size_t>(seq) * static_cast<size_t>(recent_ring_) + static_cast<size_t>(p % recent_ring_)) * n;
    runs.push_back({s.rk.data() + e, s.rv.data() + e, m, true});
    p += m;
  }
  if (staged <= last) {
    const size_t e = static_cast<size_t>(sq.stage_base + staged - sq.stage_first) * n;
    runs.push_back({s.sk.data() + e, s.sv.data() + e, last - staged + 1, true});
  }
  return covered;
}

}  // namespace specula::kv
