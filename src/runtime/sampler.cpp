// Sampler pipeline (see sampler.h).
#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"

namespace specula::runtime {
namespace {

// Index of the first maximum. Eight independent running maxima let the compiler vectorize the scan
// (std::max_element's one-at-a-time dependency chain is about 10x slower on a 262k vocabulary).
std::size_t first_max_index(std::span<const float> row) {
  constexpr std::size_t kLanes = 8;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<float>::infinity());
  std::size_t i = 0;
  for (; i + kLanes <= row.size(); i += kLanes) {
    for (std::size_t j = 0; j < kLanes; ++j) lane[j] = row[i + j] > lane[j] ? row[i + j] : lane[j];
  }
  float best = *std::max_element(lane, lane + kLanes);
  for (; i < row.size(); ++i) best = row[i] > best ? row[i] : best;
  return static_cast<std::size_t>(std::find(row.begin(), row.end(), best) - row.begin());
}

}  // namespace

Sampler::Sampler(SamplerConfig config) : config_(std::move(config)), rng_(config_.params().seed) {}

void Sampler::accept(int32_t token) {
  const int32_t last_n = config_.params().penalty_last_n;
  if (last_n == 0) return;
  history_.push_back(token);
  if (last_n > 0 && history_.size() > static_cast<std::size_t>(last_n)) history_.pop_front();
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(config_.params().seed);
}

TokenCounts Sampler::window_counts() const {
  TokenCounts counts;
  for (const int32_t t : history_) ++counts[t];
  return counts;
}

Status Sampler::prepare_logits(std::span<const float> logits) const {
  const SamplerParams& p = config_.params();
  SPECULA_CHECK(logits.size() == static_cast<std::size_t>(config_.n_vocab()), "logits row has {} entries, expected {}",
                logits.size(), config_.n_vocab());
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::size_t n_bad = 0;
  for (const float x : logits) n_bad += !(x < kInf);  // NaN or +inf; branch-free so that it vectorizes
  if (n_bad != 0) {
    const auto bad = std::find_if(logits.begin(), logits.end(), [&](float x) { return !(x < kInf); });
    return make_error(ErrorCode::kCorruptData, "the model produced a non-finite logit ({}) for token {}", *bad,
                      bad - logits.begin());
  }
  scratch_.assign(logits.begin(), logits.end());
  // Bias, then penalties, touch only the few listed / recently seen tokens.
  for (const LogitBias& b : p.logit_bias) scratch_[static_cast<std::size_t>(b.token)] += b.bias;
  if (config_.penalties_enabled()) {
    for (const auto& [token, count] : window_counts()) {
      if (token < 0 || token >= config_.n_vocab()) continue;  // accept() takes any id; only vocabulary ids matter
      float& logit = scratch_[static_cast<std::size_t>(token)];
      logit = penalized_logit(logit, count, p.repeat_penalty, p.frequency_penalty, p.presence_penalty);
    }
  }
  return ok_status();
}

// The `keep` best candidates of scratch_ (logit descending, lowest id on ties), by one pass with a bounded heap.
CandidateList Sampler::select_top(std::size_t keep) const {
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  std::vector<Candidate> heap;  // heap.front() is the worst kept candidate
  heap.reserve(keep + 1);
  for (std::size_t i = 0; i < scratch_.size(); ++i) {
    const Candidate c{static_cast<int32_t>(i), scratch_[i], 0.0f};
    if (heap.size() < keep) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (c.logit > heap.front().logit) {  // equal logits lose: the kept one has the lower id
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort(heap.begin(), heap.end(), better);
  return CandidateList{std::move(heap), true};
}

Result<CandidateList> Sampler::distribution(std::span<const float> logits) const {
  const SamplerParams& p = config_.params();
  SPECULA_RETURN_IF_ERROR(prepare_logits(logits));
  const std::size_t best = first_max_index(scratch_);  // lowest id on ties
  if (scratch_[best] == -std::numeric_limits<float>::infinity()) {
    return make_error(ErrorCode::kInvalidArgument, "every token is banned (logit_bias or -infinity logits)");
  }
  if (config_.greedy()) return CandidateList{{{static_cast<int32_t>(best), scratch_[best], 1.0f}}, true};
  CandidateList list;
  if (p.top_k > 0) {
    list = select_top(std::min(scratch_.size(), static_cast<std::size_t>(std::max(p.top_k, p.min_keep))));
  } else {
    list = CandidateList::from_logits(scratch_);
  }
  apply_typical(list, p.typical_p, p.min_keep);
  apply_top_p(list, p.top_p, p.min_keep);
  apply_min_p(list, p.min_p, p.min_keep);
  apply_temperature(list, p.temperature);
  softmax(list);
  return list;
}

Result<int32_t> Sampler::sample(std::span<const float> logits) {
  SPECULA_TRY(CandidateList list, distribution(logits));
  if (config_.greedy()) return list.items.front().id;
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return draw(list, u);
}

}  // namespace specula::runtime
