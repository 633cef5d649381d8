// token_logprobs on hand-built rows (expected values derived by hand in the comments) and against a brute-force
// full sort on a random vocabulary-sized row.
#include "runtime/sampler_logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

namespace specula::runtime {
namespace {

TEST(TokenLogprobs, ShiftedLogProbabilitiesComeBack) {
  // softmax(ln p + c) = p for any shift c: probabilities 1/2, 1/4, 1/8, 1/8.
  const float c = 3.0f;
  const std::vector<float> logits = {std::log(0.5f) + c, std::log(0.25f) + c, std::log(0.125f) + c,
                                     std::log(0.125f) + c};
  const TokenLogprobs lp = token_logprobs(logits, 1, 3);
  EXPECT_EQ(lp.id, 1);
  EXPECT_NEAR(lp.logprob, std::log(0.25), 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  // Descending; the tie between ids 2 and 3 keeps the lower id.
  EXPECT_EQ(lp.top[0].id, 0);
  EXPECT_EQ(lp.top[1].id, 1);
  EXPECT_EQ(lp.top[2].id, 2);
  EXPECT_NEAR(lp.top[0].logprob, std::log(0.5), 1e-6);
  EXPECT_NEAR(lp.top[2].logprob, std::log(0.125), 1e-6);
}

TEST(TokenLogprobs, NoTopAndMoreTopThanVocab) {
  const std::vector<float> logits = {0.0f, 0.0f};  // two equal tokens: ln 1/2 each
  EXPECT_TRUE(token_logprobs(logits, 0, 0).top.empty());
  const TokenLogprobs lp = token_logprobs(logits, 1, 20);
  EXPECT_NEAR(lp.logprob, -std::log(2.0), 1e-7);
  ASSERT_EQ(lp.top.size(), 2u);
  EXPECT_EQ(lp.top[0].id, 0);
  EXPECT_EQ(lp.top[1].id, 1);
}

TEST(TokenLogprobs, MinusInfinityIsTheFloor) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {-inf, 1.0f, -inf};  // token 1 has probability 1: logprob 0
  const TokenLogprobs lp = token_logprobs(logits, 0, 3);
  EXPECT_EQ(lp.logprob, kLogprobFloor);
  EXPECT_EQ(lp.top[0].id, 1);
  EXPECT_EQ(lp.top[0].logprob, 0.0f);
  EXPECT_EQ(lp.top[1].logprob, kLogprobFloor);
}

TEST(TokenLogprobs, MatchesAFullSortOnALargeRow) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  std::vector<float> logits(262144);
  for (float& l : logits) l = dist(rng);
  for (size_t i = 100; i < 110; ++i) logits[i] = 30.0f;  // ties at the top
  const TokenLogprobs lp = token_logprobs(logits, 12345, 20);
  // Reference: double log-sum-exp and a stable sort of all ids by descending logit.
  const double m = static_cast<double>(*std::max_element(logits.begin(), logits.end()));
  double s = 0;
  for (const float l : logits) s += std::exp(static_cast<double>(l) - m);
  const double lse = m + std::log(s);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  EXPECT_NEAR(lp.logprob, static_cast<double>(logits[12345]) - lse, 1e-4);
  ASSERT_EQ(lp.top.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(lp.top[i].id, order[i]) << i;
    EXPECT_NEAR(lp.top[i].logprob, static_cast<double>(logits[static_cast<size_t>(order[i])]) - lse, 1e-4);
  }
}

}  // namespace
}  // namespace specula::runtime
