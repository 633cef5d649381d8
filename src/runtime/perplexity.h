// Perplexity by llama.cpp's method (llama-perplexity): the text is tokenized once with BOS, cut into chunks
// of n_ctx tokens, the first token of every chunk is replaced by BOS, each chunk runs from an empty cache,
// and only the second half of each chunk is scored (positions n_ctx/2 .. n_ctx-2 predict the next token).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/text/text_model.h"

namespace specula::runtime {

struct PerplexityOptions {
  int n_ctx = 512;
  int ubatch = 512;
  int max_chunks = -1;  // -1: all chunks the text holds
};

struct PerplexityResult {
  int n_chunks = 0;
  int n_scored = 0;       // tokens scored in all
  double nll_sum = 0;     // sum of -log p(token)
  double nll2_sum = 0;    // sum of squares (for the error estimate, as llama.cpp reports it)
  std::vector<double> running_ppl;  // after each chunk
  double ppl() const;
  double ppl_error() const;  // llama.cpp's +/- figure
};

// Called after each chunk with (chunk index, running PPL).
using ChunkCallback = std::function<void(int, double)>;

// tokens: the whole tokenized text, BOS first. Errors: fewer than 2 * n_ctx tokens, an odd or tiny n_ctx.
Result<PerplexityResult> perplexity(ThreadPool& pool, model::TextModel& model, std::span<const int32_t> tokens,
                                    int32_t bos, const PerplexityOptions& options, const ChunkCallback& on_chunk);

// log-softmax of one logits row at `target` (double precision, max-subtracted).
double log_prob(std::span<const float> logits, int32_t target);

}  // namespace specula::runtime
