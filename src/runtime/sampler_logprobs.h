// Log-probabilities of generated tokens for the `logprobs` / `n_probs` request options: log-softmax of the model's
// raw final logits (after the model's soft-cap; before logit bias, penalties, temperature and truncation, as
// llama-server's default post_sampling_probs=false), for the emitted token and the N most likely tokens.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace specula::runtime {

inline constexpr int kMaxTopLogprobs = 20;  // OpenAI's limit for top_logprobs

struct TokenProb {
  int32_t id = 0;
  float logprob = 0.0f;  // natural log; <= 0
};

// One emitted token: its log-probability and the n_top most likely tokens of the same row (descending logprob,
// ties by ascending id; the emitted token need not be among them).
struct TokenLogprobs {
  int32_t id = 0;
  float logprob = 0.0f;
  std::vector<TokenProb> top;
};

// The logprobs of `token` under log_softmax(logits) and the top min(n_top, logits.size()) entries. Cost: one pass
// keeping the best entries (kernels top_k, no full sort), the SIMD softmax kernel on a copy of the row and a double
// sum (about 0.5 ms for a 262k vocabulary). A -infinity logit gets logprob kLogprobFloor (JSON has no
// infinities); so does everything of a row without a finite maximum. Requires 0 <= token < logits.size(),
// n_top >= 0.
TokenLogprobs token_logprobs(std::span<const float> logits, int32_t token, int n_top);

inline constexpr float kLogprobFloor = -9999.0f;  // OpenAI's value for a token of probability 0

}  // namespace specula::runtime
