// Sampling parameters: the raw values a user gives (flags, request fields) and their validated, immutable form.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"

namespace specula::runtime {

// Added to a token's logit before anything else. -infinity bans the token; +infinity and NaN are refused.
struct LogitBias {
  int32_t token = 0;
  float bias = 0.0f;
};

// Raw parameters; defaults are llama.cpp's (common_params_sampling). Field names are the ones errors quote.
struct SamplerParams {
  float temperature = 0.8f;      // <= 0: greedy (argmax of the biased, penalized logits)
  int32_t top_k = 40;            // 0: off
  float top_p = 0.95f;           // in [0, 1]; 1: off
  float min_p = 0.05f;           // in [0, 1]; 0: off. Keeps tokens with p >= min_p * p_max
  float typical_p = 1.0f;        // in [0, 1]; 1: off (locally typical sampling)
  float repeat_penalty = 1.0f;   // > 0; 1: off. Positive logits are divided, negative multiplied
  float presence_penalty = 0.0f;   // subtracted once from every token seen in the window
  float frequency_penalty = 0.0f;  // subtracted per occurrence in the window
  int32_t penalty_last_n = 64;   // penalty window in accepted tokens; 0: penalties off; -1: all accepted tokens
  int32_t min_keep = 1;          // >= 1: the truncation stages never keep fewer tokens than this
  uint64_t seed = 0;             // seeds std::mt19937_64; the same seed and inputs give the same tokens
  std::vector<LogitBias> logit_bias;
};

// Appends a -infinity bias for each token (what llama.cpp does for end-of-generation tokens under ignore_eos).
void ban_tokens(SamplerParams& params, std::span<const int32_t> tokens);

// Validated parameters for a vocabulary of n_vocab tokens. Immutable once built.
class SamplerConfig {
 public:
  // Errors (kInvalidArgument) name the offending field, e.g. "top_p must be in [0, 1], got 1.5".
  static Result<SamplerConfig> create(const SamplerParams& params, int32_t n_vocab);

  const SamplerParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }
  bool greedy() const { return params_.temperature <= 0.0f; }
  bool penalties_enabled() const;

 private:
  SamplerConfig(SamplerParams params, int32_t n_vocab) : params_(std::move(params)), n_vocab_(n_vocab) {}

  SamplerParams params_;
  int32_t n_vocab_ = 0;
};

}  // namespace specula::runtime
