#include "runtime/perplexity.h"

#include <algorithm>
#include <cmath>

namespace specula::runtime {

double PerplexityResult::ppl() const { return n_scored > 0 ? std::exp(nll_sum / n_scored) : 0.0; }

double PerplexityResult::ppl_error() const {
  if (n_scored < 2) return 0.0;
  const double mean = nll_sum / n_scored;
  const double var = nll2_sum / n_scored - mean * mean;
  return ppl() * std::sqrt(std::max(var, 0.0) / (n_scored - 1));
}

double log_prob(std::span<const float> logits, int32_t target) {
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
  return static_cast<double>(logits[static_cast<size_t>(target)] - max_logit) - std::log(sum);
}

namespace {

// Logits of every position of one chunk, [n_ctx, vocab].
Status chunk_logits(ThreadPool& pool, model::TextModel& model, kv::SimpleKvCache& cache,
                    const std::vector<int32_t>& chunk, int ubatch, std::vector<float>& logits) {
  const size_t vocab = static_cast<size_t>(model.vocab());
  std::vector<model::ForwardRow> rows;
  std::vector<int32_t> out_rows;
  for (size_t begin = 0; begin < chunk.size(); begin += static_cast<size_t>(ubatch)) {
    const size_t end = std::min(chunk.size(), begin + static_cast<size_t>(ubatch));
    rows.clear();
    out_rows.clear();
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({chunk[i], static_cast<int32_t>(i), 0, nullptr});
      out_rows.push_back(static_cast<int32_t>(i - begin));
    }
    SPECULA_RETURN_IF_ERROR(model.forward(pool, cache, rows, {out_rows, logits.data() + begin * vocab, nullptr}));
  }
  return ok_status();
}

}  // namespace

Result<PerplexityResult> perplexity(ThreadPool& pool, model::TextModel& model, std::span<const int32_t> tokens,
                                    int32_t bos, const PerplexityOptions& options, const ChunkCallback& on_chunk) {
  const int n_ctx = options.n_ctx;
  if (n_ctx < 4 || n_ctx % 2 != 0) return make_error(ErrorCode::kInvalidArgument, "-c must be even and >= 4, got {}", n_ctx);
  if (tokens.size() < 2 * static_cast<size_t>(n_ctx)) {
    return make_error(ErrorCode::kInvalidArgument, "the text has {} tokens; perplexity with -c {} needs at least {}",
                      tokens.size(), n_ctx, 2 * n_ctx);
  }
  int n_chunks = static_cast<int>(tokens.size() / static_cast<size_t>(n_ctx));
  if (options.max_chunks >= 0) n_chunks = std::min(n_chunks, options.max_chunks);
  SPECULA_TRY(auto cache, model.make_cache(1, n_ctx));
  const size_t vocab = static_cast<size_t>(model.vocab());
  std::vector<float> logits(static_cast<size_t>(n_ctx) * vocab);
  PerplexityResult r;
  const int first = n_ctx / 2;
  for (int c = 0; c < n_chunks; ++c) {
    const auto begin = tokens.begin() + static_cast<ptrdiff_t>(c) * n_ctx;
    std::vector<int32_t> chunk(begin, begin + n_ctx);
    chunk[0] = bos;
    SPECULA_RETURN_IF_ERROR(chunk_logits(pool, model, cache, chunk, options.ubatch, logits));
    for (int j = first; j < n_ctx - 1; ++j) {
      const double nll = -log_prob(std::span(logits.data() + static_cast<size_t>(j) * vocab, vocab),
                                   chunk[static_cast<size_t>(j) + 1]);
      r.nll_sum += nll;
      r.nll2_sum += nll * nll;
      ++r.n_scored;
    }
    r.n_chunks = c + 1;
    r.running_ppl.push_back(r.ppl());
    if (on_chunk) on_chunk(c, r.ppl());
  }
  return r;
}

}  // namespace specula::runtime
