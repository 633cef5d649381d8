#include "runtime/speculative_mtp.h"

#include <algorithm>

#include "runtime/speculative_accept.h"

namespace specula::runtime {

Status MtpDraftSource::draft(ThreadPool& pool, const kv::KvCache& cache, std::span<const DraftRequest> requests,
                             std::span<Draft> out) {
  const size_t n = requests.size();
  const size_t v = static_cast<size_t>(drafter_.vocab());
  const size_t hb = static_cast<size_t>(drafter_.backbone());
  int max_steps = 0;
  for (const auto& r : requests) max_steps = std::max(max_steps, r.n_max);
  std::vector<float> h(n * hb), h_next(n * hb), logits(n * v);
  std::vector<int32_t> token(n);
  for (size_t i = 0; i < n; ++i) {
    std::copy_n(requests[i].hidden, hb, h.data() + i * hb);  // step 0: the target's hidden state
    token[i] = requests[i].history.back();
  }
  std::vector<model::DraftStepRow> rows;
  std::vector<size_t> who;  // request index of each row
  for (int step = 0; step < max_steps; ++step) {
    rows.clear();
    who.clear();
    for (size_t i = 0; i < n; ++i) {
      const DraftRequest& r = requests[i];
      if (step >= r.n_max) continue;
      // Same position every step; the drafter sees only the committed entries [0, pos).
      rows.push_back({token[i], h.data() + i * hb, r.pos, r.seq, r.pos});
      who.push_back(i);
    }
    SPECULA_RETURN_IF_ERROR(drafter_.step(pool, cache, drafter_.target_slots(), rows,
                                          {logits.data(), nullptr, h_next.data()}));
    for (size_t k = 0; k < rows.size(); ++k) {
      const size_t i = who[k];
      const DraftRequest& r = requests[i];
      SPECULA_TRY(CandidateList q, r.sampler->distribution(std::span<const float>(logits.data() + k * v, v)));
      int32_t t = q.items.front().id;
      if (!r.sampler->config().greedy()) {
        std::vector<double> w;
        for (const Candidate& c : q.items) w.push_back(static_cast<double>(c.p));
        t = q.items[draw_weighted(w, uniform01(*r.rng))].id;
        out[i].q.push_back(std::move(q));
      }
      out[i].tokens.push_back(t);
      token[i] = t;
      std::copy_n(h_next.data() + k * hb, hb, h.data() + i * hb);
    }
  }
  return ok_status();
}

}  // namespace specula::runtime
