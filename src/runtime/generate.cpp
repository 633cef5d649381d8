#include "runtime/generate.h"

#include <algorithm>

#include "base/timer.h"

namespace specula::runtime {
namespace {

// Prefills prompt[0..n) in chunks (embedding rows where given); leaves the last row's logits in `logits`.
Status prefill(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache, std::span<const int32_t> prompt,
               std::span<const float* const> embeddings, int ubatch, std::vector<float>& logits) {
  const size_t n = prompt.size();
  const size_t step = static_cast<size_t>(std::max(ubatch, 1));
  std::vector<model::ForwardRow> rows;
  for (size_t begin = 0; begin < n; begin += step) {
    const size_t end = std::min(n, begin + step);
    rows.clear();
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({prompt[i], static_cast<int32_t>(i), 0, embeddings.empty() ? nullptr : embeddings[i]});
    }
    const std::vector<int32_t> last = {static_cast<int32_t>(rows.size() - 1)};
    SPECULA_RETURN_IF_ERROR(model.forward(pool, cache, rows, {last, logits.data(), nullptr}));
  }
  return ok_status();
}

}  // namespace

Result<GenerateStats> generate(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache,
                               std::span<const int32_t> prompt, Sampler& sampler, const GenerateOptions& options,
                               const TokenCallback& on_token, std::span<const float* const> prompt_embeddings) {
  if (prompt.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty (it needs at least a BOS token)");
  if (static_cast<int>(prompt.size()) > cache.n_ctx()) {
    return make_error(ErrorCode::kOutOfRange, "the prompt has {} tokens but the context holds {}", prompt.size(),
                      cache.n_ctx());
  }
  GenerateStats stats;
  stats.n_prompt = static_cast<int>(prompt.size());
  std::vector<float> logits(static_cast<size_t>(model.vocab()));
  Timer timer;
  if (!prompt_embeddings.empty() && prompt_embeddings.size() != prompt.size()) {
    return make_error(ErrorCode::kInternal, "{} prompt embeddings for {} prompt tokens", prompt_embeddings.size(),
                      prompt.size());
  }
  SPECULA_RETURN_IF_ERROR(prefill(pool, model, cache, prompt, prompt_embeddings, options.ubatch, logits));
  stats.prompt_s = timer.elapsed_s();
  timer.reset();
  int32_t pos = static_cast<int32_t>(prompt.size());
  while (options.max_tokens < 0 || stats.n_generated < options.max_tokens) {
    SPECULA_TRY(const int32_t token, sampler.sample(logits));
    sampler.accept(token);
    ++stats.n_generated;
    const bool is_stop = std::find(options.stop_ids.begin(), options.stop_ids.end(), token) != options.stop_ids.end();
    if (!on_token(token) || (is_stop && !options.ignore_eos)) break;
    if (options.max_tokens >= 0 && stats.n_generated >= options.max_tokens) break;
    if (pos >= cache.n_ctx()) {
      stats.context_full = true;
      break;
    }
    const model::ForwardRow row{token, pos++, 0, nullptr};
    const std::vector<int32_t> zero = {0};
    SPECULA_RETURN_IF_ERROR(model.forward(pool, cache, std::span(&row, 1), {zero, logits.data(), nullptr}));
  }
  stats.generate_s = timer.elapsed_s();
  return stats;
}

}  // namespace specula::runtime
