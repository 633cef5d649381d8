// The drafter side of speculative decoding: what a speculator is asked each round and what it answers.
// Implementations: MtpDraftSource (Gemma 4 assistant, speculative_mtp.h) and NgramDraftSource (prompt lookup,
// ngram_drafter.h). The verification loop (speculative.h) is the same for all of them.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kv/kv_cache.h"
#include "runtime/sampler.h"
#include "runtime/sampling.h"

namespace specula::runtime {

// One sequence's request for one round. The committed tokens are history (prompt + generated); the last one,
// at position `pos`, is not yet in the target's K/V (entries [0, pos) are committed and clean).
struct DraftRequest {
  int32_t seq = 0;                     // cache row
  std::span<const int32_t> history;    // committed tokens, history.back() at position pos
  int32_t pos = 0;
  const float* hidden = nullptr;       // [target hidden]: final-norm hidden state of the row that produced
                                       // history.back() (only when the drafter needs_hidden())
  int n_max = 0;                       // draft at most this many tokens (>= 1)
  const Sampler* sampler = nullptr;    // the sequence's sampler (draft distributions in sampling mode)
  std::mt19937_64* rng = nullptr;      // the sequence's speculation RNG (for sampled drafts)
};

// Drafted tokens. q[i], when present, is the distribution d[i] was drawn from (speculative sampling needs it);
// when q is empty the drafts are deterministic proposals (q = one-hot on the draft).
struct Draft {
  std::vector<int32_t> tokens;
  std::vector<CandidateList> q;
};

class DraftSource {
 public:
  virtual ~DraftSource() = default;
  // Whether requests must carry the target's final-norm hidden state (the verify pass then returns it).
  virtual bool needs_hidden() const = 0;
  // Proposes up to request.n_max tokens for every request (all sequences of one round at once; out.size() ==
  // requests.size()). A draft may be shorter, also empty. Reads the target's committed K/V from `cache`.
  virtual Status draft(ThreadPool& pool, const kv::KvCache& cache, std::span<const DraftRequest> requests,
                       std::span<Draft> out) = 0;
};

}  // namespace specula::runtime
