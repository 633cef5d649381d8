#include "runtime/generate.h"

#include <algorithm>

#include "base/log.h"
#include "base/timer.h"

namespace specula::runtime {

std::vector<int32_t> image_block_ends(std::span<const float* const> embeddings) {
  std::vector<int32_t> ends(embeddings.size(), -1);
  for (size_t i = embeddings.size(); i-- > 0;) {
    if (embeddings[i] == nullptr) continue;
    const bool last_of_run = i + 1 == embeddings.size() || embeddings[i + 1] == nullptr;
    ends[i] = last_of_run ? static_cast<int32_t>(i) : ends[i + 1];
  }
  return ends;
}

std::vector<int32_t> prefill_block_ends(const model::TextModel& model, std::span<const float* const> embeddings) {
  if (!model.config().bidirectional_images) return {};
  return image_block_ends(embeddings);
}

size_t prefill_chunk_end(std::span<const int32_t> block_ends, size_t begin, size_t n, int ubatch) {
  const size_t step = static_cast<size_t>(std::max(ubatch, 1));
  size_t end = std::min(n, begin + step);
  if (block_ends.empty() || end >= n) return end;
  const int32_t block_end = block_ends[end - 1];
  if (block_end < 0 || static_cast<size_t>(block_end) < end) return end;  // no block crosses the chunk's end
  size_t start = end - 1;  // first position of that block
  while (start > 0 && block_ends[start - 1] == block_end) --start;
  if (start > begin) return start;  // the block goes to the next chunk
  end = static_cast<size_t>(block_end) + 1;
  log::info("prefill: an image block of {} tokens (positions {}..{}) is longer than the prefill chunk of {} (-ub); "
            "it is processed in one chunk of {} rows (this model attends bidirectionally inside images)",
            end - start, start, block_end, step, end - begin);
  return end;
}

int max_prefill_chunk(std::span<const int32_t> block_ends, int ubatch) {
  int longest = std::max(ubatch, 1);
  for (size_t i = 0; i < block_ends.size(); ++i) {
    const bool first_of_block = block_ends[i] >= 0 && (i == 0 || block_ends[i - 1] != block_ends[i]);
    if (first_of_block) longest = std::max(longest, block_ends[i] - static_cast<int>(i) + 1);
  }
  return longest;
}

namespace {

// Prefills prompt[0..n) in chunks (embedding rows where given; image blocks kept whole for bidirectional
// models); leaves the last row's logits in `logits`.
Status prefill(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache, std::span<const int32_t> prompt,
               std::span<const float* const> embeddings, int ubatch, std::vector<float>& logits) {
  const size_t n = prompt.size();
  const std::vector<int32_t> block_ends = prefill_block_ends(model, embeddings);
  std::vector<model::ForwardRow> rows;
  for (size_t begin = 0, end = 0; begin < n; begin = end) {
    end = prefill_chunk_end(block_ends, begin, n, ubatch);
    rows.clear();
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({prompt[i], static_cast<int32_t>(i), 0, embeddings.empty() ? nullptr : embeddings[i],
                      block_ends.empty() ? -1 : block_ends[i]});
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
