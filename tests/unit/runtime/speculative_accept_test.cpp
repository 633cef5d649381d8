// Speculative sampling preserves the target distribution: over many trials, the first committed token is
// distributed as the sampler's processed p, whatever the draft distribution q (empirical frequencies against p
// computed independently here from the logits). Greedy verification accepts exactly the matching prefix.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/speculative_accept.h"

namespace specula::runtime {
namespace {

constexpr int kVocab = 6;

Sampler make_sampler(float temperature, int top_k = 0) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 3;
  return Sampler(SamplerConfig::create(p, kVocab).value());
}

// softmax(logits / t) in double, the independent reference of the processed distribution (no truncation).
std::vector<double> softmax_t(const std::vector<float>& logits, double t) {
  std::vector<double> p(logits.size());
  double m = -INFINITY, z = 0;
  for (float x : logits) m = std::max(m, static_cast<double>(x) / t);
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp(static_cast<double>(logits[i]) / t - m);
  for (auto& x : p) x /= z;
  return p;
}

CandidateList list_of(const std::vector<double>& q) {
  CandidateList l;
  for (size_t i = 0; i < q.size(); ++i) l.items.push_back({static_cast<int32_t>(i), 0.0f, static_cast<float>(q[i])});
  return l;
}

TEST(SpeculativeAccept, SamplingPreservesTheTargetDistribution) {
  const std::vector<float> row0 = {1.0f, 0.2f, -0.5f, 2.0f, 0.0f, -1.0f};
  const std::vector<float> row1 = {0.0f, 1.5f, 0.5f, -0.5f, 1.0f, 0.3f};
  std::vector<float> logits = row0;
  logits.insert(logits.end(), row1.begin(), row1.end());
  const std::vector<double> p = softmax_t(row0, 0.7);
  // Draft distributions: far from p, close to p, and deterministic (one-hot, as n-gram drafts).
  const std::vector<std::vector<double>> qs = {{0.05, 0.05, 0.6, 0.1, 0.1, 0.1}, p, {}};
  for (size_t qi = 0; qi < qs.size(); ++qi) {
    std::mt19937_64 rng(100 + qi);
    std::mt19937 draw_rng(7);
    std::vector<int> count(kVocab, 0);
    constexpr int kTrials = 60000;
    for (int trial = 0; trial < kTrials; ++trial) {
      Sampler s = make_sampler(0.7f);
      Draft d;
      if (qs[qi].empty()) {
        d.tokens = {2};  // always propose token 2
      } else {
        std::discrete_distribution<int> q(qs[qi].begin(), qs[qi].end());
        d.tokens = {q(draw_rng)};
        d.q = {list_of(qs[qi])};
      }
      int32_t first = -1;
      auto o = accept_draft(s, logits, d, rng, [&](int32_t t) {
        if (first < 0) first = t;
        return true;
      });
      ASSERT_TRUE(o.ok());
      ++count[static_cast<size_t>(first)];
    }
    for (int t = 0; t < kVocab; ++t) {
      const double f = static_cast<double>(count[static_cast<size_t>(t)]) / kTrials;
      const double sigma = std::sqrt(p[static_cast<size_t>(t)] * (1 - p[static_cast<size_t>(t)]) / kTrials);
      EXPECT_NEAR(f, p[static_cast<size_t>(t)], 5 * sigma + 1e-4) << "q " << qi << " token " << t;
    }
  }
}

TEST(SpeculativeAccept, GreedyAcceptsTheMatchingPrefixThenCorrects) {
  // Argmax of the rows: 3, 1, 4, 0.
  std::vector<float> logits;
  for (int best : {3, 1, 4, 0}) {
    for (int t = 0; t < kVocab; ++t) logits.push_back(t == best ? 2.0f : 0.1f * static_cast<float>(t));
  }
  std::mt19937_64 rng(1);
  struct Case {
    std::vector<int32_t> draft;
    std::vector<int32_t> committed;
    int accepted;
  };
  for (const Case& c : {Case{{3, 1, 4}, {3, 1, 4, 0}, 3}, Case{{3, 2, 4}, {3, 1}, 1}, Case{{5, 1, 4}, {3}, 0}}) {
    Sampler s = make_sampler(0.0f);
    std::vector<int32_t> got;
    Draft d;
    d.tokens = c.draft;
    auto o = accept_draft(s, logits, d, rng, [&](int32_t t) { got.push_back(t); return true; });
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(got, c.committed);
    EXPECT_EQ(o->n_accepted, c.accepted);
    EXPECT_EQ(o->n_committed, static_cast<int>(c.committed.size()));
  }
  // A stop at an accepted draft ends the round there (no bonus token).
  Sampler s = make_sampler(0.0f);
  std::vector<int32_t> got;
  Draft d;
  d.tokens = {3, 1, 4};
  auto o = accept_draft(s, logits, d, rng, [&](int32_t t) { got.push_back(t); return t != 1; });
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(got, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(o->n_committed, 2);
}

}  // namespace
}  // namespace specula::runtime
