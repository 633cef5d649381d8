// Sampler pipeline (see sampler.h).
#include "runtime/sampler.h"

#include <cmath>
#include <limits>

#include "base/check.h"

namespace specula::runtime {

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

Result<CandidateList> Sampler::distribution(std::span<const float> logits) const {
  const SamplerParams& p = config_.params();
  SPECULA_CHECK(logits.size() == static_cast<std::size_t>(config_.n_vocab()), "logits row has {} entries, expected {}",
                logits.size(), config_.n_vocab());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity()) {
      return make_error(ErrorCode::kCorruptData, "the model produced a non-finite logit ({}) for token {}",
                        logits[i], i);
    }
  }
  CandidateList list = CandidateList::from_logits(logits);
  apply_logit_bias(list, p.logit_bias);
  if (config_.penalties_enabled()) {
    apply_penalties(list, window_counts(), p.repeat_penalty, p.frequency_penalty, p.presence_penalty);
  }
  const int32_t best = argmax(list);
  if (list.items[static_cast<std::size_t>(best)].logit == -std::numeric_limits<float>::infinity()) {
    return make_error(ErrorCode::kInvalidArgument, "every token is banned (logit_bias or -infinity logits)");
  }
  if (config_.greedy()) {
    CandidateList one;
    one.items.push_back({best, list.items[static_cast<std::size_t>(best)].logit, 1.0f});
    one.sorted = true;
    return one;
  }
  apply_top_k(list, p.top_k, p.min_keep);
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
