// Verification of one sequence's draft against the target's logits (gemma4-spec.md §3.5): greedy exact match, or
// standard speculative sampling (accept d with probability min(1, p(d)/q(d)), else draw from norm(max(p - q, 0))),
// which leaves the target's (processed) distribution unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>

#include "base/result.h"
#include "runtime/sampler.h"
#include "runtime/speculative_drafter.h"

namespace specula::runtime {

struct AcceptOutcome {
  int n_committed = 0;  // tokens committed this round: the accepted drafts, then one target token (unless stopped)
  int n_accepted = 0;   // drafts accepted
};

// Called for each committed token in order (after sampler.accept); returns false to end the sequence there.
using CommitFn = std::function<bool(int32_t token)>;

// logits: [draft.tokens.size() + 1, n_vocab]; row i is the target's distribution after committing d_1..d_i.
// Greedy samplers: token i = sampler.sample(row i), accepted while it equals d_{i+1} (identical to decoding the
// rows one at a time). Sampling samplers: speculative sampling with uniforms from `rng`; p = sampler.distribution
// of the row, q = draft.q[i] (or one-hot on d_{i+1} when draft.q is empty). Errors: those of the sampler.
Result<AcceptOutcome> accept_draft(Sampler& sampler, std::span<const float> logits, const Draft& draft,
                                   std::mt19937_64& rng, const CommitFn& commit);

// Draws an index from weights (not necessarily normalized; total > 0) with a uniform u in [0, 1).
size_t draw_weighted(std::span<const double> weights, double u);

// A uniform double in [0, 1) from one 64-bit output (the Sampler's convention).
inline double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace specula::runtime
