// KvPool: the sink (kv_pool.h). Positions [0, N) of every sequence are kept as f16 copies in the codecs' storage
// domains and read from there only; their keys are raw (never centered), and once position N-1 is written the
// mean of keys 1..N-1 becomes the center of every later key. The center is a function of the sequence's first
// N keys as stored (f16), so chunked prefill, batching and rollback give bit-identical caches.
#include <algorithm>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kv/kv_pool.h"

namespace specula::kv {

void KvPool::write_sink(Slot& s, std::span<const KvRowRef> rows, const float* k, const float* v) const {
  const size_t heads = static_cast<size_t>(s.shape.n_kv_heads);
  const size_t d = static_cast<size_t>(s.shape.head_dim);
  const size_t n = recent_row_bytes(s.shape);
  std::vector<float> buf(d);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].pos >= sink_) continue;
    const size_t row = static_cast<size_t>(rows[r].seq) * static_cast<size_t>(sink_) + static_cast<size_t>(rows[r].pos);
    for (size_t h = 0; h < heads; ++h) {
      const size_t src = (r * heads + h) * d;
      buf.assign(k + src, k + src + d);
      s.kc.to_storage(buf.data());
      s.kr.encode(buf.data(), s.hk.data() + row * n + h * s.kr.head_bytes());
      buf.assign(v + src, v + src + d);
      s.vc.to_storage(buf.data());
      s.vr.encode(buf.data(), s.hv.data() + row * n + h * s.vr.head_bytes());
    }
  }
}

void KvPool::compute_center(Slot& s, int seq) const {
  const size_t w = static_cast<size_t>(s.shape.width());
  const size_t d = static_cast<size_t>(s.shape.head_dim);
  const size_t n = recent_row_bytes(s.shape);
  // Position 0 (BOS, the strongest sink) is unlike the rest; it joins only when it is the whole sink.
  const int lo = std::min(1, sink_ - 1);
  std::vector<double> sum(w, 0.0);
  std::vector<float> key(d);
  for (int p = lo; p < sink_; ++p) {
    const size_t row = static_cast<size_t>(seq) * static_cast<size_t>(sink_) + static_cast<size_t>(p);
    for (size_t h = 0; h < w / d; ++h) {
      s.kr.decode(s.hk.data() + row * n + h * s.kr.head_bytes(), key.data());
      for (size_t i = 0; i < d; ++i) sum[h * d + i] += static_cast<double>(key[i]);
    }
  }
  float* cs = s.k_center_s.data() + static_cast<size_t>(seq) * w;
  float* co = s.k_center.data() + static_cast<size_t>(seq) * w;
  for (size_t i = 0; i < w; ++i) cs[i] = static_cast<float>(sum[i] / static_cast<double>(sink_ - lo));
  std::copy_n(cs, w, co);
  for (size_t h = 0; h < w / d; ++h) s.kc.to_original(co + h * d);
}

void KvPool::add_sink_run(int slot, int seq, int first, int last, std::vector<KvRun>& runs) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  SPECULA_DCHECK(first >= 0 && first <= last && last < sink_);
  const size_t e = (static_cast<size_t>(seq) * static_cast<size_t>(sink_) + static_cast<size_t>(first)) * recent_row_bytes(s.shape);
  runs.push_back({s.hk.data() + e, s.hv.data() + e, last - first + 1, true, true});
}

void KvPool::read_sink(const Slot& s, bool key, int seq, int pos, float* out) const {
  const KvCodec& f16 = key ? s.kr : s.vr;
  const KvCodec& codec = key ? s.kc : s.vc;
  const AlignedVector<uint8_t>& area = key ? s.hk : s.hv;
  const size_t d = static_cast<size_t>(s.shape.head_dim);
  const size_t row = static_cast<size_t>(seq) * static_cast<size_t>(sink_) + static_cast<size_t>(pos);
  for (int h = 0; h < s.shape.n_kv_heads; ++h) {
    float* o = out + static_cast<size_t>(h) * d;
    f16.decode(area.data() + row * recent_row_bytes(s.shape) + static_cast<size_t>(h) * f16.head_bytes(), o);
    codec.to_original(o);
  }
}

void KvPool::copy_sink(int src, int dst) {
  for (Slot& sl : slots_) {
    const size_t n = static_cast<size_t>(sink_) * recent_row_bytes(sl.shape);
    std::memcpy(sl.hk.data() + static_cast<size_t>(dst) * n, sl.hk.data() + static_cast<size_t>(src) * n, n);
    std::memcpy(sl.hv.data() + static_cast<size_t>(dst) * n, sl.hv.data() + static_cast<size_t>(src) * n, n);
  }
}

}  // namespace specula::kv
