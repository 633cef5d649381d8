#include "runtime/speculative_accept.h"

#include <algorithm>

#include "base/check.h"

namespace specula::runtime {
namespace {

float prob_of(const CandidateList& list, int32_t token) {
  for (const Candidate& c : list.items) {
    if (c.id == token) return c.p;
  }
  return 0.0f;
}

Result<AcceptOutcome> accept_greedy(Sampler& sampler, std::span<const float> logits, const Draft& draft,
                                    const CommitFn& commit) {
  const size_t v = static_cast<size_t>(sampler.config().n_vocab());
  AcceptOutcome out;
  for (size_t i = 0; i <= draft.tokens.size(); ++i) {
    SPECULA_TRY(const int32_t t, sampler.sample(logits.subspan(i * v, v)));
    sampler.accept(t);
    ++out.n_committed;
    if (!commit(t)) break;
    if (i == draft.tokens.size() || t != draft.tokens[i]) break;
    ++out.n_accepted;
  }
  return out;
}

// The token that replaces a rejected draft d: drawn from max(p - q, 0), renormalized (p when that is all zero).
int32_t residual_token(const CandidateList& p, const Draft& draft, size_t i, int32_t n_vocab, double u) {
  std::vector<float> q;
  if (!draft.q.empty()) {
    q.assign(static_cast<size_t>(n_vocab), 0.0f);
    for (const Candidate& c : draft.q[i].items) q[static_cast<size_t>(c.id)] = c.p;
  }
  std::vector<double> w(p.items.size());
  double total = 0.0;
  for (size_t j = 0; j < p.items.size(); ++j) {
    const int32_t id = p.items[j].id;
    const double qv = draft.q.empty() ? (id == draft.tokens[i] ? 1.0 : 0.0) : static_cast<double>(q[static_cast<size_t>(id)]);
    w[j] = std::max(0.0, static_cast<double>(p.items[j].p) - qv);
    total += w[j];
  }
  if (!(total > 0.0)) {
    for (size_t j = 0; j < p.items.size(); ++j) w[j] = static_cast<double>(p.items[j].p);
  }
  return p.items[draw_weighted(w, u)].id;
}

Result<AcceptOutcome> accept_sampled(Sampler& sampler, std::span<const float> logits, const Draft& draft,
                                     std::mt19937_64& rng, const CommitFn& commit) {
  const int32_t n_vocab = sampler.config().n_vocab();
  const size_t v = static_cast<size_t>(n_vocab);
  AcceptOutcome out;
  for (size_t i = 0; i <= draft.tokens.size(); ++i) {
    SPECULA_TRY(const CandidateList p, sampler.distribution(logits.subspan(i * v, v)));
    int32_t t = 0;
    bool accepted = false;
    if (i < draft.tokens.size()) {
      const int32_t d = draft.tokens[i];
      const double pd = static_cast<double>(prob_of(p, d));
      const double qd = draft.q.empty() ? 1.0 : static_cast<double>(prob_of(draft.q[i], d));
      const double u = uniform01(rng);
      accepted = qd > 0.0 && u * qd < pd;  // u < p(d) / q(d)
      t = accepted ? d : residual_token(p, draft, i, n_vocab, uniform01(rng));
    } else {
      std::vector<double> w;
      for (const Candidate& c : p.items) w.push_back(static_cast<double>(c.p));
      t = p.items[draw_weighted(w, uniform01(rng))].id;
    }
    sampler.accept(t);
    ++out.n_committed;
    if (accepted) ++out.n_accepted;
    if (!commit(t) || !accepted) break;
  }
  return out;
}

}  // namespace

size_t draw_weighted(std::span<const double> weights, double u) {
  SPECULA_CHECK(!weights.empty(), "draw from an empty distribution");
  double total = 0.0;
  for (const double w : weights) total += w;
  const double target = u * total;
  double cum = 0.0;
  for (size_t j = 0; j < weights.size(); ++j) {
    cum += weights[j];
    if (target < cum) return j;
  }
  for (size_t j = weights.size(); j-- > 0;) {  // rounding left the sum just below the target
    if (weights[j] > 0.0) return j;
  }
  return 0;
}

Result<AcceptOutcome> accept_draft(Sampler& sampler, std::span<const float> logits, const Draft& draft,
                                   std::mt19937_64& rng, const CommitFn& commit) {
  const size_t v = static_cast<size_t>(sampler.config().n_vocab());
  SPECULA_CHECK(logits.size() == (draft.tokens.size() + 1) * v, "verify logits have {} values for {} drafts",
                logits.size(), draft.tokens.size());
  SPECULA_CHECK(draft.q.empty() || draft.q.size() == draft.tokens.size(), "draft has {} distributions for {} tokens",
                draft.q.size(), draft.tokens.size());
  if (sampler.config().greedy()) return accept_greedy(sampler, logits, draft, commit);
  return accept_sampled(sampler, logits, draft, rng, commit);
}

}  // namespace specula::runtime
