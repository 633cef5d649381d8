#include "kv/kv_pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fmt/format.h>

#include "base/check.h"
#include "kv/attention.h"

namespace specula::kv {

Status KvPool::validate(std::vector<KvPoolSlot>& slots, const KvPoolOptions& o, std::vector<Slot>& out, Layout& layout) {
  if (o.n_seq < 1 || o.n_ctx < 1) return make_error(ErrorCode::kInvalidArgument, "KV cache needs n_seq >= 1 and n_ctx >= 1");
  if (o.max_batch < 1) return make_error(ErrorCode::kInvalidArgument, "KV cache max batch must be >= 1");
  if (o.page_tokens < 1) return make_error(ErrorCode::kInvalidArgument, "KV cache page size must be >= 1");
  if (o.recent < 0) return make_error(ErrorCode::kInvalidArgument, "KV cache recent window must be >= 0");
  if (o.sink < 0) return make_error(ErrorCode::kInvalidArgument, "KV cache sink must be >= 0");
  const bool recent = o.recent > 0 && (is_block_quantized(o.type_k) || is_block_quantized(o.type_v));
  layout.recent_ring = recent ? std::min(o.n_ctx, o.recent) : 0;
  layout.sink = recent ? std::min(o.n_ctx, o.sink) : 0;
  int max_window = 0;
  out.clear();
  for (const KvPoolSlot& s : slots) {
    if (s.n_kv_heads < 1 || s.window < 0) {
      return make_error(ErrorCode::kInvalidArgument, "layer {}: bad KV shape ({} heads, window {})", s.layer,
                        s.n_kv_heads, s.window);
    }
    Slot slot;
    slot.shape = {s.n_kv_heads, s.head_dim};
    slot.layer = s.layer;
    slot.window = s.window;
    const uint64_t seed = layer_rotation_seed(o.seed, s.layer);
    SPECULA_TRY(slot.kc, KvCodec::create(o.type_k, s.head_dim, seed, fmt::format("layer {} K", s.layer)));
    SPECULA_TRY(slot.vc, KvCodec::create(o.type_v, s.head_dim, seed, fmt::format("layer {} V", s.layer)));
    if (recent) {
      SPECULA_TRY(slot.kr, KvCodec::create(KvType::kF16, s.head_dim, seed, fmt::format("layer {} K", s.layer)));
      SPECULA_TRY(slot.vr, KvCodec::create(KvType::kF16, s.head_dim, seed, fmt::format("layer {} V", s.layer)));
    }
    if (!s.k_scale.empty() && is_block_quantized(o.type_k)) {
      const bool ok = static_cast<int>(s.k_scale.size()) == s.head_dim &&
                      std::all_of(s.k_scale.begin(), s.k_scale.end(), [](float x) { return std::isfinite(x) && x > 0.0f; });
      if (!ok) return make_error(ErrorCode::kInvalidArgument, "layer {}: bad key scale", s.layer);
      slot.k_scale = s.k_scale;
    }
    slot.k_row = static_cast<size_t>(s.n_kv_heads) * slot.kc.head_bytes();
    slot.v_row = static_cast<size_t>(s.n_kv_heads) * slot.vc.head_bytes();
    max_window = std::max(max_window, s.window);
    out.push_back(std::move(slot));
  }
  layout.ring = max_window > 0 ? static_cast<int>(std::min<int64_t>(o.n_ctx, int64_t{max_window} + o.max_batch + 1)) : 0;
  layout.n_pages = o.n_seq * ((o.n_ctx + o.page_tokens - 1) / o.page_tokens);
  return ok_status();
}

Result<size_t> KvPool::required_bytes(const std::vector<KvPoolSlot>& slots, const KvPoolOptions& options) {
  std::vector<KvPoolSlot> copy = slots;
  std::vector<Slot> out;
  Layout l;
  SPECULA_RETURN_IF_ERROR(validate(copy, options, out, l));
  size_t total = 0;
  for (const Slot& s : out) {
    const size_t entries = s.window > 0 ? static_cast<size_t>(options.n_seq) * static_cast<size_t>(l.ring)
                                        : static_cast<size_t>(l.n_pages) * static_cast<size_t>(options.page_tokens);
    total += entries * (s.k_row + s.v_row);
    total += static_cast<size_t>(options.n_seq) * static_cast<size_t>(l.recent_ring + l.sink) * 2 * recent_row_bytes(s.shape);
  }
  return total;
}

Result<std::unique_ptr<KvPool>> KvPool::create(std::vector<KvPoolSlot> slots, const KvPoolOptions& options) {
  SPECULA_TRY(const size_t need, required_bytes(slots, options));
  if (need > options.max_bytes) {
    return make_error(ErrorCode::kResourceExhausted,
                      "the KV cache needs {:.1f} MiB (context {} x {} sequences, K {}, V {}) but the limit is {:.1f} "
                      "MiB; lower -c or choose a smaller cache type (-ctk/-ctv)",
                      static_cast<double>(need) / (1 << 20), options.n_ctx, options.n_seq, kv_type_name(options.type_k),
                      kv_type_name(options.type_v), static_cast<double>(options.max_bytes) / (1 << 20));
  }
  std::unique_ptr<KvPool> p(new KvPool());
  p->options_ = options;
  Layout l;
  SPECULA_RETURN_IF_ERROR(validate(slots, options, p->slots_, l));
  p->ring_ = l.ring;
  p->n_pages_ = l.n_pages;
  p->recent_ring_ = l.recent_ring;
  p->sink_ = l.sink;
  for (Slot& s : p->slots_) {
    const size_t entries = s.window > 0 ? static_cast<size_t>(options.n_seq) * static_cast<size_t>(p->ring_)
                                        : static_cast<size_t>(p->n_pages_) * static_cast<size_t>(options.page_tokens);
    s.k.assign(entries * s.k_row, 0);
    s.v.assign(entries * s.v_row, 0);
    const size_t recent_bytes = static_cast<size_t>(options.n_seq) * static_cast<size_t>(p->recent_ring_) * recent_row_bytes(s.shape);
    s.rk.assign(recent_bytes, 0);
    s.rv.assign(recent_bytes, 0);
    const size_t sink_bytes = static_cast<size_t>(options.n_seq) * static_cast<size_t>(p->sink_) * recent_row_bytes(s.shape);
    s.hk.assign(sink_bytes, 0);
    s.hv.assign(sink_bytes, 0);
    if (centers_keys(options.type_k)) {
      s.k_center.assign(static_cast<size_t>(options.n_seq) * static_cast<size_t>(s.shape.width()), 0.0f);
      if (p->sink_ > 0) s.k_center_s.assign(s.k_center.size(), 0.0f);
    }
    p->max_window_ = std::max(p->max_window_, s.window);
  }
  p->seqs_.resize(static_cast<size_t>(options.n_seq));
  p->refs_.assign(static_cast<size_t>(p->n_pages_), 0);
  for (int32_t i = p->n_pages_ - 1; i >= 0; --i) p->free_.push_back(i);
  return p;
}

void KvPool::scale_heads(float* x, size_t n_values, const std::vector<float>& s, bool divide) {
  const size_t d = s.size();
  for (size_t i = 0; i < n_values; ++i) {
    if (divide) {
      x[i] /= s[i % d];
    } else {
      x[i] *= s[i % d];
    }
  }
}

size_t KvPool::bytes() const {
  size_t total = 0;
  for (const Slot& s : slots_) total += s.k.size() + s.v.size() + s.rk.size() + s.rv.size() + s.hk.size() + s.hv.size();
  return total;
}

size_t KvPool::bytes_per_token(int slot) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  return s.k_row + s.v_row;
}

std::string KvPool::describe() const {
  int n_sliding = 0;
  size_t per_token = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    n_sliding += slots_[i].window > 0;
    per_token += bytes_per_token(static_cast<int>(i));
  }
  const std::string recent =
      recent_ring_ > 0 ? fmt::format("; recent window {} positions and sink of {} at f16 (ring of {} per sequence)",
                                     options_.recent, sink_, recent_ring_)
                       : std::string();
  return fmt::format("KV cache: K {}, V {}; {} layers ({} sliding: ring of {} entries per sequence; {} full: {} pages "
                     "of {} tokens); {} B per token over all layers{}; {:.2f} MiB",
                     kv_type_name(options_.type_k), kv_type_name(options_.type_v), slots_.size(), n_sliding, ring_,
                     slots_.size() - static_cast<size_t>(n_sliding), n_pages_, options_.page_tokens, per_token, recent,
                     static_cast<double>(bytes()) / (1 << 20));
}

size_t KvPool::entry(int slot, int seq, int pos) const {
  const Slot& s = slots_[static_cast<size_t>(slot)];
  if (s.window > 0) return static_cast<size_t>(seq) * static_cast<size_t>(ring_) + static_cast<size_t>(pos % ring_);
  const int p = options_.page_tokens;
  const Seq& sq = seqs_[static_cast<size_t>(seq)];
  SPECULA_DCHECK(static_cast<size_t>(pos / p) < sq.pages.size());
  return static_cast<size_t>(sq.pages[static_cast<size_t>(pos / p)]) * static_cast<size_t>(p) + static_cast<size_t>(pos % p);
}

int32_t KvPool::take_page() {
  SPECULA_CHECK(!free_.empty(), "KV pool out of pages (sized for every sequence at full context)");
  const int32_t page = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(page)] = 1;
  return page;
}

void KvPool::release_page(int32_t page) {
  if (--refs_[static_cast<size_t>(page)] == 0) free_.push_back(page);
}

// Gives the sequence private pages for logical pages [first_page, last_page]: new pages past its table, a copy
// of every full slot's entries for pages it shares.
void KvPool::make_writable(Seq& s, int first_page, int last_page) {
  const size_t pt = static_cast<size_t>(options_.page_tokens);
  for (int lp = first_page; lp <= last_page; ++lp) {
    if (static_cast<size_t>(lp) >= s.pages.size()) {
      s.pages.push_back(take_page());
      continue;
    }
    const int32_t old = s.pages[static_cast<size_t>(lp)];
    if (refs_[static_cast<size_t>(old)] == 1) continue;
    const int32_t fresh = take_page();
    for (Slot& sl : slots_) {
      if (sl.window > 0) continue;
      std::memcpy(sl.k.data() + static_cast<size_t>(fresh) * pt * sl.k_row, sl.k.data() + static_cast<size_t>(old) * pt * sl.k_row, pt * sl.k_row);
      std::memcpy(sl.v.data() + static_cast<size_t>(fresh) * pt * sl.v_row, sl.v.data() + static_cast<size_t>(old) * pt * sl.v_row, pt * sl.v_row);
    }
    release_page(old);
    s.pages[static_cast<size_t>(lp)] = fresh;
  }
}

Status KvPool::check_truncate(int seq, int n_tokens) const {
  if (seq < 0 || seq >= options_.n_seq) {
    return make_error(ErrorCode::kInvalidArgument, "sequence {} is outside the cache's {} sequences", seq, options_.n_seq);
  }
  const Seq& s = seqs_[static_cast<size_t>(seq)];
  if (n_tokens < 0 || n_tokens > s.len) {
    return make_error(ErrorCode::kInvalidArgument, "sequence {} has {} tokens; cannot truncate it to {}", seq, s.len,
                      n_tokens);
  }
  // The next query (at n_tokens) and the MTP drafter need the W + 1 entries before it.
  if (has_sliding() && n_tokens > 0 && std::max(0, n_tokens - max_window_ - 1) < s.lo) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sequence {}: cannot go back to {} tokens, its sliding-window entries from position {} on were "
                      "overwritten; clear the sequence and process the prompt again",
                      seq, n_tokens, s.lo);
  }
  return ok_status();
}

Status KvPool::truncate(int seq, int n_tokens) {
  SPECULA_RETURN_IF_ERROR(check_truncate(seq, n_tokens));
  Seq& s = seqs_[static_cast<size_t>(seq)];
  s.len = n_tokens;
  if (n_tokens == 0) s.lo = 0;
  if (recent_ring_ > 0) {
    s.stage_n = std::clamp(n_tokens - s.stage_first, 0, s.stage_n);
    s.ring_lo = std::min(s.ring_lo, s.ring_end());
  }
  return ok_status();
}

void KvPool::clear(int seq) {
  Seq& s = seqs_[static_cast<size_t>(seq)];
  for (const int32_t p : s.pages) release_page(p);
  s = Seq{};
}

Status KvPool::copy_prefix(int src, int dst, int n_tokens) {
  SPECULA_RETURN_IF_ERROR(check_truncate(src, n_tokens));
  if (dst < 0 || dst >= options_.n_seq || dst == src) {
    return make_error(ErrorCode::kInvalidArgument, "copy_prefix: bad destination sequence {}", dst);
  }
  clear(dst);
  const Seq& s = seqs_[static_cast<size_t>(src)];
  Seq& d = seqs_[static_cast<size_t>(dst)];
  const int n_pages = (n_tokens + options_.page_tokens - 1) / options_.page_tokens;
  for (int i = 0; i < n_pages && static_cast<size_t>(i) < s.pages.size(); ++i) {
    const int32_t p = s.pages[static_cast<size_t>(i)];
    ++refs_[static_cast<size_t>(p)];
    d.pages.push_back(p);
  }
  d.len = n_tokens;
  d.lo = n_tokens == 0 ? 0 : s.lo;
  if (recent_ring_ > 0) {
    d.ring_lo = std::min(s.ring_lo, d.ring_end());
  }
  const size_t r = static_cast<size_t>(ring_);
  for (Slot& sl : slots_) {
    if (!sl.rk.empty()) {
      const size_t n = static_cast<size_t>(recent_ring_) * recent_row_bytes(sl.shape);
      std::memcpy(sl.rk.data() + static_cast<size_t>(dst) * n, sl.rk.data() + static_cast<size_t>(src) * n, n);
      std::memcpy(sl.rv.data() + static_cast<size_t>(dst) * n, sl.rv.data() + static_cast<size_t>(src) * n, n);
    }
    const size_t w = static_cast<size_t>(sl.shape.width());
    for (std::vector<float>* c : {&sl.k_center, &sl.k_center_s}) {
      if (c->empty()) continue;
      std::copy_n(c->begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(src) * w), w,
                  c->begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(dst) * w));
    }
    if (sl.window == 0) continue;
    std::memcpy(sl.k.data() + static_cast<size_t>(dst) * r * sl.k_row, sl.k.data() + static_cast<size_t>(src) * r * sl.k_row, r * sl.k_row);
    std::memcpy(sl.v.data() + static_cast<size_t>(dst) * r * sl.v_row, sl.v.data() + static_cast<size_t>(src) * r * sl.v_row, r * sl.v_row);
  }
  if (recent_ring_ > 0 && s.stage_n > 0) commit_staging(src, dst, std::min(n_tokens, s.stage_first + s.stage_n));
  if (sink_ > 0) copy_sink(src, dst);
  return ok_status();
}

}  // namespace specula::kv
