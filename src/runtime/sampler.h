// Sampler: turns one float logits row into a token id with the configured pipeline. Model-independent.
//
// Pipeline (the order llama.cpp's default chain uses): logit bias -> repetition/presence/frequency penalties over the
// last penalty_last_n accepted tokens -> [greedy: argmax, stop here] -> top-k -> typical-p -> top-p -> min-p ->
// temperature -> draw. Truncation therefore sees the untempered distribution; temperature shapes only the draw.
// Greedy (temperature <= 0) returns the argmax of the biased, penalized logits (lowest id on ties) and does not
// advance the RNG.
//
// RNG: std::mt19937_64 seeded with params().seed (its output sequence is fixed by the C++ standard); a draw uses one
// 64-bit output u64 as the uniform (u64 >> 11) * 2^-53 in [0, 1). Same seed + same logits + same accepted tokens
// give the same tokens on every platform.
//
// Not thread-safe: one Sampler per sequence.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "base/result.h"
#include "runtime/sampler_config.h"
#include "runtime/sampling.h"

namespace specula::runtime {

class Sampler {
 public:
  explicit Sampler(SamplerConfig config);

  // Samples the next token from logits[n_vocab]. Errors: a NaN or +infinity logit (kCorruptData: the model produced
  // garbage), or every token banned by logit_bias / -infinity (kInvalidArgument). logits.size() != n_vocab is a
  // programming error (checked).
  Result<int32_t> sample(std::span<const float> logits);

  // The distribution sample() draws from: the candidates left after every stage, with p = softmax of their final
  // (tempered) logits, in the (deterministic) order the draw walks them: by decreasing p after top-k or top-p,
  // otherwise vocabulary order. For greedy configs: the single argmax token with p = 1.
  // Used by speculative sampling (target/draft probabilities) and tests.
  Result<CandidateList> distribution(std::span<const float> logits) const;

  // Records a token (generated or, if the caller wants prompt tokens penalized, from the prompt) in the
  // penalty window.
  void accept(int32_t token);

  // Clears the penalty window and restarts the RNG from the seed.
  void reset();

  const SamplerConfig& config() const { return config_; }

 private:
  TokenCounts window_counts() const;
  // Validates logits and writes the biased, penalized row into scratch_.
  Status prepare_logits(std::span<const float> logits) const;
  CandidateList select_top(std::size_t keep) const;

  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::deque<int32_t> history_;  // the last penalty_last_n accepted tokens (all of them for -1)
  mutable std::vector<float> scratch_;  // n_vocab adjusted logits, reused between calls
};

}  // namespace specula::runtime
