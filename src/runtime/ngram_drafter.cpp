#include "runtime/ngram_drafter.h"

#include <algorithm>

namespace specula::runtime {

std::vector<int32_t> ngram_lookup(std::span<const int32_t> history, int n_min, int n_max, int n_draft) {
  const size_t len = history.size();
  std::vector<int32_t> draft;
  for (int n = std::min<int>(n_max, static_cast<int>(len) - 1); n >= std::max(n_min, 1); --n) {
    const size_t un = static_cast<size_t>(n);
    const auto suffix = history.subspan(len - un);
    for (size_t j = len - un; j-- > 0;) {  // most recent earlier occurrence first
      if (!std::equal(suffix.begin(), suffix.end(), history.begin() + static_cast<std::ptrdiff_t>(j))) continue;
      // Copy what followed; past the end of history, continue from the drafts themselves.
      for (size_t t = 0; t < static_cast<size_t>(n_draft); ++t) {
        const size_t src = j + un + t;
        draft.push_back(src < len ? history[src] : draft[src - len]);
      }
      return draft;
    }
  }
  return draft;
}

Status NgramDraftSource::draft(ThreadPool&, const kv::KvCache&, std::span<const DraftRequest> requests,
                               std::span<Draft> out) {
  for (size_t i = 0; i < requests.size(); ++i) {
    out[i].tokens = ngram_lookup(requests[i].history, n_min_, n_max_, requests[i].n_max);
  }
  return ok_status();
}

}  // namespace specula::runtime
