#include "runtime/multimodal_generate.h"

#include <algorithm>

#include "base/timer.h"

namespace specula::runtime {

Result<GenerateStats> generate_multimodal(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache,
                                          const MultimodalPrompt& prompt, Sampler& sampler,
                                          const GenerateOptions& options, const TokenCallback& on_token) {
  const size_t n = prompt.tokens.size();
  if (n == 0) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty (it needs at least a BOS token)");
  if (static_cast<int>(n) > cache.n_ctx()) {
    return make_error(ErrorCode::kOutOfRange, "the prompt has {} tokens but the context holds {}", n, cache.n_ctx());
  }
  GenerateStats stats;
  stats.n_prompt = static_cast<int>(n);
  std::vector<float> logits(static_cast<size_t>(model.vocab()));
  Timer timer;
  const size_t step = static_cast<size_t>(std::max(options.ubatch, 1));
  std::vector<model::ForwardRow> rows;
  for (size_t begin = 0; begin < n; begin += step) {
    const size_t end = std::min(n, begin + step);
    rows.clear();
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({prompt.tokens[i], static_cast<int32_t>(i), 0, prompt.embeddings[i]});
    }
    const std::vector<int32_t> last = {static_cast<int32_t>(rows.size() - 1)};
    SPECULA_RETURN_IF_ERROR(model.forward(pool, cache, rows, {last, logits.data(), nullptr}));
  }
  stats.prompt_s = timer.elapsed_s();
  timer.reset();
  int32_t pos = static_cast<int32_t>(n);
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
