// N-gram (prompt lookup) drafting: no model. The longest recent suffix of the committed tokens (n_max down to
// n_min tokens) that occurred earlier proposes the tokens that followed it there.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/speculative_drafter.h"

namespace specula::runtime {

// Drafts up to n_draft tokens for `history` (prompt + committed tokens): for n = n_max .. n_min, the most recent
// earlier occurrence history[j, j + n) of the last n tokens (j + n < history.size()) proposes the tokens after it,
// history[j + n], history[j + n + 1], ...; past the end of history the drafts themselves continue the copy (so
// a repeating pattern drafts its repetition). Empty when no suffix of length >= n_min recurs.
std::vector<int32_t> ngram_lookup(std::span<const int32_t> history, int n_min, int n_max, int n_draft);

class NgramDraftSource final : public DraftSource {
 public:
  NgramDraftSource(int n_min, int n_max) : n_min_(n_min), n_max_(n_max) {}
  bool needs_hidden() const override { return false; }
  // Deterministic proposals (Draft::q empty), for greedy and sampling samplers alike.
  Status draft(ThreadPool& pool, const kv::KvCache& cache, std::span<const DraftRequest> requests,
               std::span<Draft> out) override;

 private:
  int n_min_;
  int n_max_;
};

}  // namespace specula::runtime
