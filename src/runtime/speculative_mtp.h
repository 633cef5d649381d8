// DraftSource over the Gemma 4 MTP assistant: every round drafts up to n_max tokens per sequence at the fixed
// position of the last committed token, batching the sequences of a round into one drafter step per draft index.
#pragma once

#include "model/mtp/mtp_drafter.h"
#include "runtime/speculative_drafter.h"

namespace specula::runtime {

class MtpDraftSource final : public DraftSource {
 public:
  // The drafter must outlive this object.
  explicit MtpDraftSource(const model::MtpDrafter& drafter) : drafter_(drafter) {}

  bool needs_hidden() const override { return true; }
  // Greedy samplers draft the argmax of the sampler's processed distribution (one-hot q); sampling samplers draw
  // from it with the request's rng and return it as q.
  Status draft(ThreadPool& pool, const kv::KvCache& cache, std::span<const DraftRequest> requests,
               std::span<Draft> out) override;

 private:
  const model::MtpDrafter& drafter_;
};

}  // namespace specula::runtime
