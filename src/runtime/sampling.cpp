// Sampling stages (see sampling.h).
#include "runtime/sampling.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace specula::runtime {
namespace {

bool logit_order(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

void sort_candidates(CandidateList& list) {
  if (list.sorted) return;
  std::sort(list.items.begin(), list.items.end(), logit_order);
  list.sorted = true;
}

// Index of `token` in the list, or -1. O(1) while the list is still in vocabulary order.
int64_t find_token(const CandidateList& list, int32_t token) {
  const auto idx = static_cast<std::size_t>(token);
  if (token >= 0 && idx < list.items.size() && list.items[idx].id == token) return token;
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (list.items[i].id == token) return static_cast<int64_t>(i);
  }
  return -1;
}

std::size_t keep_at_least(std::size_t n, int32_t min_keep, std::size_t size) {
  return std::min(size, std::max(n, static_cast<std::size_t>(std::max(min_keep, 1))));
}

}  // namespace

CandidateList CandidateList::from_logits(std::span<const float> logits) {
  CandidateList list;
  list.items.resize(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) list.items[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  return list;
}

void apply_logit_bias(CandidateList& list, std::span<const LogitBias> biases) {
  for (const LogitBias& b : biases) {
    const int64_t i = find_token(list, b.token);
    if (i >= 0) list.items[static_cast<std::size_t>(i)].logit += b.bias;
  }
  if (!biases.empty()) list.sorted = false;
}

void apply_penalties(CandidateList& list, const TokenCounts& counts, float repeat, float frequency, float presence) {
  for (const auto& [token, count] : counts) {
    if (count <= 0) continue;
    const int64_t i = find_token(list, token);
    if (i < 0) continue;
    float& logit = list.items[static_cast<std::size_t>(i)].logit;
    logit = penalized_logit(logit, count, repeat, frequency, presence);
  }
  if (!counts.empty()) list.sorted = false;
}

float penalized_logit(float logit, int32_t count, float repeat, float frequency, float presence) {
  const float scaled = logit <= 0.0f ? logit * repeat : logit / repeat;
  return scaled - (static_cast<float>(count) * frequency + presence);
}

void softmax(CandidateList& list) {
  SPECULA_CHECK(!list.items.empty(), "softmax of an empty candidate list");
  float max_logit = list.items.front().logit;
  for (const Candidate& c : list.items) max_logit = std::max(max_logit, c.logit);
  SPECULA_CHECK(std::isfinite(max_logit), "softmax needs a finite maximum logit");
  double sum = 0.0;
  for (Candidate& c : list.items) {
    c.p = static_cast<float>(std::exp(static_cast<double>(c.logit) - static_cast<double>(max_logit)));  // <= 1
    sum += static_cast<double>(c.p);
  }
  for (Candidate& c : list.items) c.p = static_cast<float>(static_cast<double>(c.p) / sum);
}

void apply_top_k(CandidateList& list, int32_t k, int32_t min_keep) {
  if (k <= 0) return;
  const std::size_t keep = keep_at_least(static_cast<std::size_t>(k), min_keep, list.items.size());
  if (!list.sorted && keep < list.items.size()) {
    // Partial selection first: a full sort of a 262k vocabulary per token is the cost to avoid.
    std::nth_element(list.items.begin(), list.items.begin() + static_cast<std::ptrdiff_t>(keep), list.items.end(),
                     logit_order);
    list.items.resize(keep);
  }
  sort_candidates(list);
  list.items.resize(keep);
}

void apply_top_p(CandidateList& list, float p, int32_t min_keep) {
  if (p >= 1.0f) return;
  softmax(list);
  const std::size_t min_n = static_cast<std::size_t>(std::max(min_keep, 1));
  // Sort only as much of the head as the cumulative sum needs: with a 262k vocabulary the mass is usually in the
  // first few hundred tokens, and a full sort per token would dominate sampling time.
  std::size_t head = list.sorted ? list.items.size() : std::min<std::size_t>(list.items.size(), 256);
  while (true) {
    if (!list.sorted) {
      std::nth_element(list.items.begin(), list.items.begin() + static_cast<std::ptrdiff_t>(head) - 1,
                       list.items.end(), logit_order);
      std::sort(list.items.begin(), list.items.begin() + static_cast<std::ptrdiff_t>(head), logit_order);
      if (head == list.items.size()) list.sorted = true;
    }
    double cum = 0.0;
    for (std::size_t i = 0; i < head; ++i) {
      cum += static_cast<double>(list.items[i].p);
      if (cum >= static_cast<double>(p) && i + 1 >= min_n) {
        list.items.resize(i + 1);
        list.sorted = true;
        return;
      }
    }
    if (head == list.items.size()) return;  // rounding kept the total below p: keep everything
    head = std::min(list.items.size(), head * 8);
  }
}

void apply_min_p(CandidateList& list, float p, int32_t min_keep) {
  if (p <= 0.0f) return;
  float max_logit = list.items.front().logit;
  for (const Candidate& c : list.items) max_logit = std::max(max_logit, c.logit);
  const double threshold = static_cast<double>(max_logit) + std::log(static_cast<double>(p));
  const auto below = [&](const Candidate& c) { return static_cast<double>(c.logit) < threshold; };
  const auto n_kept = static_cast<std::size_t>(
      std::count_if(list.items.begin(), list.items.end(), [&](const Candidate& c) { return !below(c); }));
  const std::size_t keep = keep_at_least(n_kept, min_keep, list.items.size());
  if (keep == n_kept) {  // filter in place, order preserved (no sort of a large unsorted list)
    list.items.erase(std::remove_if(list.items.begin(), list.items.end(), below), list.items.end());
    return;
  }
  sort_candidates(list);  // min_keep needs the best `keep` tokens, some below the threshold
  list.items.resize(keep);
}

void apply_typical(CandidateList& list, float p, int32_t min_keep) {
  if (p >= 1.0f) return;
  softmax(list);
  double entropy = 0.0;
  for (const Candidate& c : list.items) {
    if (c.p > 0.0f) entropy -= static_cast<double>(c.p) * std::log(static_cast<double>(c.p));
  }
  std::vector<std::pair<double, std::size_t>> shifted(list.items.size());
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    const double surprisal = -std::log(static_cast<double>(list.items[i].p));
    shifted[i] = {std::abs(surprisal - entropy), i};
  }
  std::stable_sort(shifted.begin(), shifted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  double cum = 0.0;
  std::size_t keep = shifted.size();
  for (std::size_t i = 0; i < shifted.size(); ++i) {
    cum += static_cast<double>(list.items[shifted[i].second].p);
    if (cum > static_cast<double>(p) && i + 1 >= static_cast<std::size_t>(std::max(min_keep, 1))) {
      keep = i + 1;
      break;
    }
  }
  std::vector<Candidate> kept;
  kept.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) kept.push_back(list.items[shifted[i].second]);
  list.items = std::move(kept);
  list.sorted = false;
  sort_candidates(list);
}

void apply_temperature(CandidateList& list, float t) {
  SPECULA_CHECK(t > 0.0f, "temperature must be positive here, got {}", t);
  for (Candidate& c : list.items) c.logit /= t;
}

int32_t draw(CandidateList& list, double u) {
  softmax(list);
  double cum = 0.0;
  for (const Candidate& c : list.items) {
    cum += static_cast<double>(c.p);
    if (u < cum) return c.id;
  }
  // Rounding left the total just below u: take the last token that has any probability.
  for (auto it = list.items.rbegin(); it != list.items.rend(); ++it) {
    if (it->p > 0.0f) return it->id;
  }
  return list.items.front().id;
}

int32_t argmax(const CandidateList& list) {
  SPECULA_CHECK(!list.items.empty(), "argmax of an empty candidate list");
  const Candidate* best = &list.items.front();
  for (const Candidate& c : list.items) {
    if (logit_order(c, *best)) best = &c;
  }
  return best->id;
}

}  // namespace specula::runtime
