#include "runtime/kl.h"

#include <algorithm>
#include <cmath>

namespace specula::runtime {

double KlResult::mean_kl() const {
  double s = 0;
  for (const double k : kl) s += k;
  return kl.empty() ? 0.0 : s / static_cast<double>(kl.size());
}

double KlResult::mean_kl_error() const {
  if (kl.size() < 2) return 0.0;
  const double m = mean_kl();
  double s2 = 0;
  for (const double k : kl) s2 += (k - m) * (k - m);
  const double n = static_cast<double>(kl.size());
  return std::sqrt(s2 / (n - 1) / n);
}

double KlResult::quantile_kl(double q) const {
  if (kl.empty()) return 0.0;
  std::vector<double> sorted = kl;
  std::sort(sorted.begin(), sorted.end());
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(sorted.size() - 1);
  return sorted[static_cast<size_t>(std::lround(rank))];
}

double KlResult::top1_agreement() const {
  return kl.empty() ? 0.0 : static_cast<double>(n_top1_same) / static_cast<double>(kl.size());
}

void log_softmax(std::span<const float> logits, std::vector<double>& out) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    out[i] = static_cast<double>(logits[i] - max_logit);
    sum += std::exp(out[i]);
  }
  const double log_sum = std::log(sum);
  for (double& x : out) x -= log_sum;
}

namespace {

// Logits of positions first..n-1 of one chunk ([n - first, vocab]), from an empty cache.
Status chunk_logits(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache, const std::vector<int32_t>& chunk,
                    int first, int ubatch, std::vector<float>& logits) {
  const size_t vocab = static_cast<size_t>(model.vocab());
  std::vector<model::ForwardRow> rows;
  std::vector<int32_t> out_rows;
  for (size_t begin = 0; begin < chunk.size(); begin += static_cast<size_t>(ubatch)) {
    const size_t end = std::min(chunk.size(), begin + static_cast<size_t>(ubatch));
    rows.clear();
    out_rows.clear();
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({chunk[i], static_cast<int32_t>(i), 0, nullptr});
      if (i >= static_cast<size_t>(first)) out_rows.push_back(static_cast<int32_t>(i - begin));
    }
    const size_t out_first = std::max(begin, static_cast<size_t>(first)) - static_cast<size_t>(first);
    SPECULA_RETURN_IF_ERROR(model.forward(pool, cache, rows, {out_rows, logits.data() + out_first * vocab, nullptr}));
  }
  return ok_status();
}

Result<std::unique_ptr<kv::KvCache>> make_cache(const model::TextModel& model, kv::CacheTypes types, const KlOptions& o) {
  kv::KvPoolOptions kv_options;
  kv_options.type_k = types.k;
  kv_options.type_v = types.v;
  kv_options.n_ctx = o.n_ctx;
  kv_options.max_batch = o.ubatch;
  kv_options.recent = o.recent;
  kv_options.sink = o.sink;
  return model.make_kv_cache(kv_options);
}

void score(PerplexityResult& r, double logp) {
  r.nll_sum -= logp;
  r.nll2_sum += logp * logp;
  ++r.n_scored;
}

}  // namespace

Result<KlResult> kl_divergence(ThreadPool& pool, model::TextModel& model, std::span<const int32_t> tokens, int32_t bos,
                               const KlOptions& options, const ChunkCallback& on_chunk) {
  const int n_ctx = options.n_ctx;
  if (n_ctx < 4 || n_ctx % 2 != 0) return make_error(ErrorCode::kInvalidArgument, "-c must be even and >= 4, got {}", n_ctx);
  if (options.ubatch < 1) return make_error(ErrorCode::kInvalidArgument, "-ub must be >= 1");
  if (tokens.size() < 2 * static_cast<size_t>(n_ctx)) {
    return make_error(ErrorCode::kInvalidArgument, "the text has {} tokens; kl with -c {} needs at least {}",
                      tokens.size(), n_ctx, 2 * n_ctx);
  }
  int n_chunks = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
  if (options.max_chunks >= 0) n_chunks = std::min(n_chunks, options.max_chunks);
  SPECULA_TRY(auto base_cache, make_cache(model, options.base, options));
  SPECULA_TRY(auto test_cache, make_cache(model, options.test, options));
  KlResult r;
  r.cache_bytes_base = base_cache->bytes();
  r.cache_bytes_test = test_cache->bytes();
  const size_t vocab = static_cast<size_t>(model.vocab());
  const int first = n_ctx / 2;
  std::vector<float> la(static_cast<size_t>(n_ctx - first) * vocab), lb(la.size());
  std::vector<double> pa, pb;
  for (int c = 0; c < n_chunks; ++c) {
    const auto begin = tokens.begin() + static_cast<ptrdiff_t>(c) * n_ctx;
    std::vector<int32_t> chunk(begin, begin + n_ctx);
    chunk[0] = bos;
    kernels::cpu::set_act_precision(options.base_activations);
    SPECULA_RETURN_IF_ERROR(chunk_logits(pool, model, *base_cache, chunk, first, options.ubatch, la));
    kernels::cpu::set_act_precision(options.test_activations);
    SPECULA_RETURN_IF_ERROR(chunk_logits(pool, model, *test_cache, chunk, first, options.ubatch, lb));
    for (int j = first; j < n_ctx - 1; ++j) {
      const size_t row = static_cast<size_t>(j - first) * vocab;
      log_softmax(std::span(la.data() + row, vocab), pa);
      log_softmax(std::span(lb.data() + row, vocab), pb);
      const auto target = static_cast<size_t>(chunk[static_cast<size_t>(j) + 1]);
      score(r.base, pa[target]);
      score(r.test, pb[target]);
      double kl = 0;
      for (size_t i = 0; i < vocab; ++i) kl += std::exp(pa[i]) * (pa[i] - pb[i]);
      r.kl.push_back(std::max(kl, 0.0));
      const auto top_a = std::max_element(la.begin() + static_cast<ptrdiff_t>(row), la.begin() + static_cast<ptrdiff_t>(row + vocab));
      const auto top_b = std::max_element(lb.begin() + static_cast<ptrdiff_t>(row), lb.begin() + static_cast<ptrdiff_t>(row + vocab));
      r.n_top1_same += (top_a - la.begin()) - static_cast<ptrdiff_t>(row) == (top_b - lb.begin()) - static_cast<ptrdiff_t>(row);
    }
    r.base.n_chunks = r.test.n_chunks = c + 1;
    r.base.running_ppl.push_back(r.base.ppl());
    r.test.running_ppl.push_back(r.test.ppl());
    if (on_chunk) on_chunk(c, r.test.ppl());
  }
  return r;
}

}  // namespace specula::runtime
