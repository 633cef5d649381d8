// Sampler pipeline: greedy, penalty window, determinism, and a chi-square check of sampled frequencies.
#include "runtime/sampler.h"

#include <cmath>
#include <limits>
#include <map>

#include <gtest/gtest.h>

namespace specula::runtime {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplerParams neutral() {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.typical_p = 1.0f;
  return p;
}

Sampler make(const SamplerParams& p, int32_t n_vocab) {
  auto config = SamplerConfig::create(p, n_vocab);
  EXPECT_TRUE(config.ok()) << config.error().message();
  return Sampler(std::move(config).value());
}

TEST(Sampler, GreedyIsArgmaxOfBiasedPenalizedLogits) {
  SamplerParams p = neutral();
  p.temperature = 0.0f;
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  EXPECT_EQ(*make(p, 4).sample(logits), 1);  // tie between 1 and 3: lowest id
  p.logit_bias = {{2, 1.5f}};                 // 2 + 1.5 = 3.5 wins
  EXPECT_EQ(*make(p, 4).sample(logits), 2);
  p.logit_bias.clear();
  p.repeat_penalty = 2.0f;  // token 1 seen: 3 / 2 = 1.5, token 3 now wins
  Sampler s = make(p, 4);
  s.accept(1);
  EXPECT_EQ(*s.sample(logits), 3);
  const auto dist = s.distribution(logits);
  ASSERT_EQ(dist->items.size(), 1u);
  EXPECT_EQ(dist->items[0].p, 1.0f);
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p = neutral();
  p.temperature = 0.0f;
  p.presence_penalty = 10.0f;
  p.penalty_last_n = 2;
  const std::vector<float> logits = {5.0f, 4.0f, 0.0f};
  Sampler s = make(p, 3);
  s.accept(0);
  EXPECT_EQ(*s.sample(logits), 1);  // token 0 penalized to -5
  s.accept(2);
  s.accept(2);                      // window is now {2, 2}: token 0 is free again
  EXPECT_EQ(*s.sample(logits), 0);
  p.penalty_last_n = 0;             // penalties off
  Sampler off = make(p, 3);
  off.accept(0);
  EXPECT_EQ(*off.sample(logits), 0);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  SamplerParams p = neutral();
  p.seed = 1234;
  const std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  Sampler a = make(p, 8);
  Sampler b = make(p, 8);
  p.seed = 1235;
  Sampler c = make(p, 8);
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 64; ++i) {
    ta.push_back(*a.sample(logits));
    tb.push_back(*b.sample(logits));
    tc.push_back(*c.sample(logits));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
  a.reset();
  std::vector<int32_t> again;
  for (int i = 0; i < 64; ++i) again.push_back(*a.sample(logits));
  EXPECT_EQ(again, ta);
}

TEST(Sampler, ProcessedDistributionByHand) {
  // logits ln{0.4, 0.3, 0.2, 0.1, 0.0001...}: top_k 3 -> {0.4, 0.3, 0.2} renormalized {4/9, 3/9, 2/9};
  // top_p 0.7: cumulative 4/9 = .444, 7/9 = .778 >= .7 -> keep {0, 1}; temperature 0.5 squares the ratio:
  // p ∝ {0.4^2, 0.3^2} = {0.16, 0.09} -> {0.64, 0.36}.
  SamplerParams p = neutral();
  p.top_k = 3;
  p.top_p = 0.7f;
  p.temperature = 0.5f;
  std::vector<float> logits;
  for (const double q : {0.4, 0.3, 0.2, 0.1}) logits.push_back(static_cast<float>(std::log(q)));
  logits.push_back(-20.0f);
  const auto dist = make(p, 5).distribution(logits);
  ASSERT_TRUE(dist.ok());
  ASSERT_EQ(dist->items.size(), 2u);
  EXPECT_EQ(dist->items[0].id, 0);
  EXPECT_NEAR(dist->items[0].p, 0.64f, 1e-5f);
  EXPECT_EQ(dist->items[1].id, 1);
  EXPECT_NEAR(dist->items[1].p, 0.36f, 1e-5f);
}

TEST(Sampler, FrequenciesMatchTheProcessedDistribution) {
  // 12 tokens, top_k 8, min_p 0.05, temperature 0.8; 40000 seeded draws; Pearson chi-square against the
  // distribution() probabilities. Critical value for df <= 7 at p = 0.001 is 24.3; truncated tokens must never appear.
  SamplerParams p = neutral();
  p.top_k = 8;
  p.min_p = 0.05f;
  p.temperature = 0.8f;
  p.seed = 42;
  const std::vector<float> logits = {0.3f, 2.0f, -1.0f, 1.2f, 0.9f, -3.0f, 1.9f, 0.0f, -0.5f, 1.5f, -2.0f, 0.6f};
  Sampler s = make(p, 12);
  const auto dist = s.distribution(logits);
  ASSERT_TRUE(dist.ok());
  std::map<int32_t, double> expected;
  for (const Candidate& c : dist->items) expected[c.id] = c.p;
  ASSERT_GE(expected.size(), 4u);
  ASSERT_LE(expected.size(), 8u);
  const int n = 40000;
  std::map<int32_t, int> seen;
  for (int i = 0; i < n; ++i) ++seen[*s.sample(logits)];
  double chi2 = 0.0;
  for (const auto& [id, count] : seen) {
    ASSERT_TRUE(expected.count(id)) << "sampled truncated token " << id;
  }
  for (const auto& [id, prob] : expected) {
    const double e = prob * n;
    const double o = seen.count(id) ? seen[id] : 0;
    chi2 += (o - e) * (o - e) / e;
  }
  EXPECT_LT(chi2, 24.3) << "df = " << expected.size() - 1;
}

TEST(Sampler, ErrorsForBannedVocabularyAndGarbageLogits) {
  SamplerParams p = neutral();
  p.logit_bias = {{0, -kInf}, {1, -kInf}};
  const auto all_banned = make(p, 2).sample(std::vector<float>{1.0f, 2.0f});
  ASSERT_FALSE(all_banned.ok());
  EXPECT_EQ(all_banned.error().code(), ErrorCode::kInvalidArgument);
  const auto nan = make(neutral(), 2).sample(std::vector<float>{1.0f, std::nanf("")});
  ASSERT_FALSE(nan.ok());
  EXPECT_EQ(nan.error().code(), ErrorCode::kCorruptData);
  const auto inf = make(neutral(), 2).sample(std::vector<float>{kInf, 0.0f});
  EXPECT_FALSE(inf.ok());
  // -infinity from the model is a legitimate "never".
  EXPECT_EQ(*make(neutral(), 2).sample(std::vector<float>{-kInf, 0.0f}), 1);
}

}  // namespace
}  // namespace specula::runtime
