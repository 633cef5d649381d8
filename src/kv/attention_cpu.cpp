// kv::cpu::packed_attention: chunked (flash-decoding style) attention over packed cache entries.
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/aligned.h"
#include "base/check.h"
#include "kv/attention.h"

namespace specula::kv::cpu {
namespace {

struct Task {
  uint32_t row = 0;
  int kv_head = 0;
  int chunk = 0;
};

struct Scratch {
  AlignedVector<float> kbuf, vbuf, scores, q_shift;
};

// Per-task result for the group of query heads sharing one kv head: acc [group, d], then max [group],
// sum [group].
struct Partial {
  float* acc;
  float* max;
  float* sum;
};

class Kernel {
 public:
  Kernel(const KvSimd& simd, const PackedSlot& slot, int n_heads, const PackedRows& rows, const float* q, float scale)
      : simd_(simd), slot_(slot), rows_(rows), q_(q), scale_(scale), n_heads_(n_heads),
        group_(n_heads / slot.n_kv_heads), d_(slot.k_codec->head_dim()) {}

  size_t partial_floats() const { return static_cast<size_t>(group_) * static_cast<size_t>(d_ + 2); }

  Partial partial(float* base) const {
    const size_t g = static_cast<size_t>(group_);
    return {base, base + g * static_cast<size_t>(d_), base + g * static_cast<size_t>(d_) + g};
  }

  void run(const Task& t, Scratch& s, Partial p) const {
    const size_t d = static_cast<size_t>(d_);
    const size_t g = static_cast<size_t>(group_);
    s.kbuf.resize(d);
    s.vbuf.resize(d);
    s.scores.resize(g * kChunk);
    // q_ is already in K's storage domain; the group's heads are contiguous.
    const float* qg = q_ + (t.row * static_cast<size_t>(n_heads_) + static_cast<size_t>(t.kv_head) * g) * d;
    // q · shift per head of the group, subtracted from raw (uncentered) keys' scores.
    const float* shift = rows_.shift(t.row);
    s.q_shift.assign(g, 0.0f);
    if (shift != nullptr) {
      for (size_t hh = 0; hh < g; ++hh) s.q_shift[hh] = simd_.dot(qg + hh * d, shift + static_cast<size_t>(t.kv_head) * d, d_);
    }
    const float* q_shift = s.q_shift.data();
    const int n = visit(t, [&](const uint8_t* k, const uint8_t*, int e, const KvRun& run) {
      const float* kv = key(k, t.kv_head, s.kbuf.data(), run.recent);
      const bool raw = run.raw && shift != nullptr;
      for (size_t hh = 0; hh < g; ++hh) {
        const float dot = simd_.dot(qg + hh * d, kv, d_) - (raw ? q_shift[hh] : 0.0f);
        s.scores[hh * kChunk + static_cast<size_t>(e)] = dot * scale_;
      }
    });
    for (size_t hh = 0; hh < g; ++hh) {
      float* sc = s.scores.data() + hh * kChunk;
      const float m = *std::max_element(sc, sc + n);
      p.max[hh] = m;
      p.sum[hh] = simd_.exp_sum(sc, n, m);
    }
    std::fill(p.acc, p.acc + g * d, 0.0f);
    visit(t, [&](const uint8_t*, const uint8_t* v, int e, const KvRun& run) {
      const float* vv = value(v, t.kv_head, s.vbuf.data(), run.recent);
      for (size_t hh = 0; hh < g; ++hh) simd_.axpy(s.scores[hh * kChunk + static_cast<size_t>(e)], vv, p.acc + hh * d, d_);
    });
  }

  // Merges the chunks of (row, kv_head) in chunk order into out.
  void combine(std::span<float> partials, size_t first_task, int n_chunks, uint32_t row, int kv_head, float* out) const {
    const size_t d = static_cast<size_t>(d_);
    for (size_t hh = 0; hh < static_cast<size_t>(group_); ++hh) {
      float m = -INFINITY;
      for (int c = 0; c < n_chunks; ++c) m = std::max(m, part(partials, first_task + static_cast<size_t>(c)).max[hh]);
      float* o = out + (row * static_cast<size_t>(n_heads_) + static_cast<size_t>(kv_head) * static_cast<size_t>(group_) + hh) * d;
      std::fill(o, o + d, 0.0f);
      float sum = 0.0f;
      for (int c = 0; c < n_chunks; ++c) {
        const Partial p = part(partials, first_task + static_cast<size_t>(c));
        const float w = std::exp(p.max[hh] - m);
        sum += p.sum[hh] * w;
        simd_.axpy(w, p.acc + hh * d, o, d_);
      }
      const float inv = 1.0f / sum;
      for (size_t j = 0; j < d; ++j) o[j] *= inv;
      slot_.v_codec->to_original(o);
    }
  }

 private:
  Partial part(std::span<float> partials, size_t task) const { return partial(partials.data() + task * partial_floats()); }

  const float* key(const uint8_t* entry, int kv_head, float* buf, bool recent) const {
    return head(recent ? *slot_.k_recent : *slot_.k_codec, entry, kv_head, buf);
  }

  const float* value(const uint8_t* entry, int kv_head, float* buf, bool recent) const {
    return head(recent ? *slot_.v_recent : *slot_.v_codec, entry, kv_head, buf);
  }

  // One head vector of an entry in the codec's storage domain (f32 entries are read in place).
  const float* head(const KvCodec& codec, const uint8_t* entry, int kv_head, float* buf) const {
    const uint8_t* h = entry + static_cast<size_t>(kv_head) * codec.head_bytes();
    if (codec.type() == KvType::kF32) return reinterpret_cast<const float*>(h);
    simd_.decode(codec, h, buf);
    return buf;
  }

  // Calls fn(k_entry, v_entry, index in chunk, run) for the entries of the task's chunk; returns their count.
  template <typename Fn>
  int visit(const Task& t, Fn&& fn) const {
    int skip = t.chunk * kChunk;
    int e = 0;
    for (uint32_t i = rows_.run_begin[t.row]; i < rows_.run_begin[t.row + 1] && e < kChunk; ++i) {
      const KvRun& run = rows_.runs[i];
      if (skip >= run.n) {
        skip -= run.n;
        continue;
      }
      const size_t ks = run.recent ? slot_.recent_stride : slot_.k_stride;
      const size_t vs = run.recent ? slot_.recent_stride : slot_.v_stride;
      for (int j = skip; j < run.n && e < kChunk; ++j, ++e) {
        fn(run.k + static_cast<size_t>(j) * ks, run.v + static_cast<size_t>(j) * vs, e, run);
      }
      skip = 0;
    }
    return e;
  }

  const KvSimd& simd_;
  const PackedSlot& slot_;
  const PackedRows& rows_;
  const float* q_;
  float scale_;
  int n_heads_;
  int group_;
  int d_;
};

}  // namespace

void packed_attention_with(const KvSimd& simd, ThreadPool& pool, const PackedSlot& slot, int n_heads,
                           const PackedRows& rows, const float* q, float scale, float* out) {
  SPECULA_CHECK(slot.n_kv_heads > 0 && n_heads % slot.n_kv_heads == 0);
  SPECULA_CHECK(slot.k_codec->head_dim() == slot.v_codec->head_dim());
  // Rotate the queries into K's storage domain once (turbo K); other codecs read q as given.
  AlignedVector<float> q_rot;
  const size_t d = static_cast<size_t>(slot.k_codec->head_dim());
  if (slot.k_codec->rotated()) {
    const size_t n_vec = rows.n_rows() * static_cast<size_t>(n_heads);
    q_rot.assign(q, q + n_vec * d);
    pool.parallel_for(n_vec, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) slot.k_codec->to_storage(q_rot.data() + i * d);
    });
    q = q_rot.data();
  }
  const Kernel kernel(simd, slot, n_heads, rows, q, scale);
  std::vector<Task> tasks;
  std::vector<size_t> first_task;  // per (row, kv head)
  std::vector<int> n_chunks;
  for (size_t r = 0; r < rows.n_rows(); ++r) {
    int n = 0;
    for (uint32_t i = rows.run_begin[r]; i < rows.run_begin[r + 1]; ++i) n += rows.runs[i].n;
    SPECULA_CHECK(n > 0, "attention row {} sees no entries", r);
    const int nc = (n + kChunk - 1) / kChunk;
    for (int kh = 0; kh < slot.n_kv_heads; ++kh) {
      first_task.push_back(tasks.size());
      n_chunks.push_back(nc);
      for (int c = 0; c < nc; ++c) tasks.push_back({static_cast<uint32_t>(r), kh, c});
    }
  }
  AlignedVector<float> partials(tasks.size() * kernel.partial_floats());
  pool.parallel_for(tasks.size(), [&](size_t begin, size_t end) {
    Scratch s;
    for (size_t t = begin; t < end; ++t) kernel.run(tasks[t], s, kernel.partial(partials.data() + t * kernel.partial_floats()));
  });
  pool.parallel_for(first_task.size(), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const uint32_t row = static_cast<uint32_t>(i / static_cast<size_t>(slot.n_kv_heads));
      const int kh = static_cast<int>(i % static_cast<size_t>(slot.n_kv_heads));
      kernel.combine(std::span(partials), first_task[i], n_chunks[i], row, kh, out);
    }
  });
}

void packed_attention(ThreadPool& pool, const PackedSlot& slot, int n_heads, const PackedRows& rows, const float* q,
                      float scale, float* out) {
  packed_attention_with(kv_simd_best(), pool, slot, n_heads, rows, q, scale, out);
}

}  // namespace specula::kv::cpu
