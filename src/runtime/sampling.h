// Sampling stages over a candidate list: pure functions, no model, no RNG state (the draw takes a uniform number).
//
// Semantics follow llama.cpp's samplers (src/llama-sampler.cpp): each truncation stage recomputes probabilities
// over the candidates still present, so stages compose in the order they are called. Probabilities are computed in
// double from float logits and stored as float.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "runtime/sampler_config.h"

namespace specula::runtime {

struct Candidate {
  int32_t id = 0;
  float logit = 0.0f;
  float p = 0.0f;  // valid after softmax()
};

// Candidates of one logits row. Invariant when `sorted`: logits descending, ties by ascending id.
struct CandidateList {
  std::vector<Candidate> items;
  bool sorted = false;

  // One candidate per vocabulary entry, items[i].id == i.
  static CandidateList from_logits(std::span<const float> logits);
};

// Occurrences of each token in the penalty window.
using TokenCounts = std::unordered_map<int32_t, int32_t>;

// Adds each bias to its token's logit (tokens not in the list are ignored).
void apply_logit_bias(CandidateList& list, std::span<const LogitBias> biases);

// llama.cpp penalties for every candidate with count c > 0:
//   logit = logit <= 0 ? logit * repeat : logit / repeat;  logit -= c * frequency + presence.
void apply_penalties(CandidateList& list, const TokenCounts& counts, float repeat, float frequency, float presence);

// The same formula for one logit of a token seen `count` > 0 times.
float penalized_logit(float logit, int32_t count, float repeat, float frequency, float presence);

// Sets p = softmax(logits) without reordering. -infinity logits get p = 0; at least one logit must be finite.
void softmax(CandidateList& list);

// Keeps the max(k, min_keep) highest logits; k <= 0 keeps everything. Leaves the list sorted.
void apply_top_k(CandidateList& list, int32_t k, int32_t min_keep);

// Keeps the smallest set of most likely tokens whose cumulative probability reaches p, at least min_keep; leaves
// the list sorted. p >= 1: off. Sorts only the head it needs.
void apply_top_p(CandidateList& list, float p, int32_t min_keep);

// Keeps tokens with logit >= max_logit + ln(p) (i.e. prob >= p * max_prob), at least min_keep (then the best ones);
// preserves the order otherwise. p <= 0: off.
void apply_min_p(CandidateList& list, float p, int32_t min_keep);

// Locally typical sampling: orders tokens by |-ln p - H| (H = entropy) and keeps the shortest such prefix whose
// cumulative probability exceeds p, at least min_keep. p >= 1: off. The kept tokens are re-sorted by logit.
void apply_typical(CandidateList& list, float p, int32_t min_keep);

// logit /= t; t must be > 0.
void apply_temperature(CandidateList& list, float t);

// Draws from softmax(list) with a uniform u in [0, 1): the first candidate (in list order) whose cumulative
// probability exceeds u. Returns the token id.
int32_t draw(CandidateList& list, double u);

// The highest logit's token, lowest id on ties. The list must be non-empty.
int32_t argmax(const CandidateList& list);

}  // namespace specula::runtime
