// Each sampling stage on hand-built distributions; expected values derived by hand in the comments.
#include "runtime/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace specula::runtime {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<int32_t> ids(const CandidateList& list) {
  std::vector<int32_t> out;
  for (const Candidate& c : list.items) out.push_back(c.id);
  return out;
}

std::vector<int32_t> sorted_ids(const CandidateList& list) {
  auto out = ids(list);
  std::sort(out.begin(), out.end());
  return out;
}

// Logits whose softmax is exactly the given probabilities (ln p).
CandidateList from_probs(std::initializer_list<double> probs) {
  std::vector<float> logits;
  for (const double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return CandidateList::from_logits(logits);
}

float logit_of(const CandidateList& list, int32_t id) {
  for (const Candidate& c : list.items) {
    if (c.id == id) return c.logit;
  }
  ADD_FAILURE() << "token " << id << " missing";
  return 0.0f;
}

TEST(Sampling, LogitBiasAddsAndBans) {
  auto list = CandidateList::from_logits(std::vector<float>{1.0f, 2.0f, 3.0f});
  const std::vector<LogitBias> biases = {{0, 5.0f}, {2, -kInf}};
  apply_logit_bias(list, biases);
  EXPECT_FLOAT_EQ(list.items[0].logit, 6.0f);
  EXPECT_FLOAT_EQ(list.items[1].logit, 2.0f);
  EXPECT_EQ(list.items[2].logit, -kInf);
  EXPECT_EQ(argmax(list), 0);
}

TEST(Sampling, PenaltiesFollowLlamaCppFormula) {
  // counts {0:2, 1:1, 3:1}; repeat 2, frequency 0.5, presence 0.25
  //   token 0: 2 > 0 -> 2/2 = 1;    1 - (2*0.5 + 0.25) = -0.25
  //   token 1: -1 <= 0 -> -1*2 = -2; -2 - (1*0.5 + 0.25) = -2.75
  //   token 2: not seen -> 0.5
  //   token 3: 3/2 = 1.5;            1.5 - 0.75 = 0.75
  auto list = CandidateList::from_logits(std::vector<float>{2.0f, -1.0f, 0.5f, 3.0f});
  apply_penalties(list, TokenCounts{{0, 2}, {1, 1}, {3, 1}}, 2.0f, 0.5f, 0.25f);
  EXPECT_FLOAT_EQ(logit_of(list, 0), -0.25f);
  EXPECT_FLOAT_EQ(logit_of(list, 1), -2.75f);
  EXPECT_FLOAT_EQ(logit_of(list, 2), 0.5f);
  EXPECT_FLOAT_EQ(logit_of(list, 3), 0.75f);
  // A zero logit counts as "<= 0": multiplied (stays 0), then the subtraction applies.
  auto zero = CandidateList::from_logits(std::vector<float>{0.0f});
  apply_penalties(zero, TokenCounts{{0, 3}}, 1.5f, 1.0f, 0.0f);
  EXPECT_FLOAT_EQ(zero.items[0].logit, -3.0f);
}

TEST(Sampling, SoftmaxNormalizesInPlace) {
  // logits {0, ln 3}: p = {1/4, 3/4}; the order is kept.
  auto list = CandidateList::from_logits(std::vector<float>{0.0f, static_cast<float>(std::log(3.0))});
  softmax(list);
  EXPECT_EQ(ids(list), (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(list.items[0].p, 0.25f, 1e-6f);
  EXPECT_NEAR(list.items[1].p, 0.75f, 1e-6f);
  // -infinity gets probability 0.
  auto banned = CandidateList::from_logits(std::vector<float>{1.0f, -kInf});
  softmax(banned);
  EXPECT_EQ(banned.items[0].p, 1.0f);
  EXPECT_EQ(banned.items[1].p, 0.0f);
}

TEST(Sampling, TopKKeepsHighestLowestIdOnTies) {
  auto list = CandidateList::from_logits(std::vector<float>{1, 5, 3, 4, 2});
  apply_top_k(list, 2, 1);
  EXPECT_EQ(ids(list), (std::vector<int32_t>{1, 3}));
  auto ties = CandidateList::from_logits(std::vector<float>{1, 1, 1});
  apply_top_k(ties, 2, 1);
  EXPECT_EQ(ids(ties), (std::vector<int32_t>{0, 1}));
  auto off = CandidateList::from_logits(std::vector<float>{1, 2, 3});
  apply_top_k(off, 0, 1);
  EXPECT_EQ(off.items.size(), 3u);
  auto min_keep = CandidateList::from_logits(std::vector<float>{1, 2, 3, 4});
  apply_top_k(min_keep, 1, 3);
  EXPECT_EQ(ids(min_keep), (std::vector<int32_t>{3, 2, 1}));
}

TEST(Sampling, TopPKeepsSmallestPrefixReachingP) {
  // p = {0.5, 0.3, 0.15, 0.05}; cumulative 0.5, 0.8, 0.95, 1.0
  auto a = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_top_p(a, 0.75f, 1);  // 0.8 >= 0.75 at the 2nd
  EXPECT_EQ(ids(a), (std::vector<int32_t>{0, 1}));
  auto b = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_top_p(b, 0.85f, 1);  // 0.95 >= 0.85 at the 3rd
  EXPECT_EQ(ids(b), (std::vector<int32_t>{0, 1, 2}));
  auto c = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_top_p(c, 0.4f, 1);  // 0.5 >= 0.4 at the 1st
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0}));
  auto d = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_top_p(d, 0.4f, 3);  // min_keep 3
  EXPECT_EQ(ids(d), (std::vector<int32_t>{0, 1, 2}));
  auto e = from_probs({0.05, 0.15, 0.3, 0.5});  // unsorted input is sorted first
  apply_top_p(e, 0.75f, 1);
  EXPECT_EQ(ids(e), (std::vector<int32_t>{3, 2}));
}

TEST(Sampling, TopPOnALargeUnsortedList) {
  // 5000 tokens: token 4999 has p = 0.5, token 0 p = 0.25, the rest share 0.25 equally (0.25 / 4998 each).
  // top_p 0.74 -> {4999, 0}. top_p 0.76 needs k tail tokens with 0.75 + k * 0.25 / 4998 >= 0.76, k >= 199.92:
  // 200 of them, all tied, so the lowest ids 1..200 (202 tokens in all).
  std::vector<double> probs(5000, 0.25 / 4998);
  probs[4999] = 0.5;
  probs[0] = 0.25;
  std::vector<float> logits;
  for (const double q : probs) logits.push_back(static_cast<float>(std::log(q)));
  auto a = CandidateList::from_logits(logits);
  apply_top_p(a, 0.74f, 1);
  EXPECT_EQ(ids(a), (std::vector<int32_t>{4999, 0}));
  EXPECT_TRUE(a.sorted);
  auto b = CandidateList::from_logits(logits);
  apply_top_p(b, 0.76f, 1);
  ASSERT_EQ(b.items.size(), 202u);
  EXPECT_EQ(b.items[2].id, 1);
  EXPECT_EQ(b.items[201].id, 200);
  // Needing the whole tail: 0.9999 is reached only after nearly all tokens (several widening rounds).
  auto c = CandidateList::from_logits(logits);
  apply_top_p(c, 0.9999f, 1);
  EXPECT_GT(c.items.size(), 4900u);
  EXPECT_EQ(c.items.front().id, 4999);
}

TEST(Sampling, MinPKeepsTokensAboveFractionOfMax) {
  // p = {0.5, 0.3, 0.15, 0.05}: min_p 0.2 -> threshold 0.1 keeps 3; min_p 0.7 -> 0.35 keeps 1.
  auto a = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_min_p(a, 0.2f, 1);
  EXPECT_EQ(ids(a), (std::vector<int32_t>{0, 1, 2}));
  auto b = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_min_p(b, 0.7f, 1);
  EXPECT_EQ(ids(b), (std::vector<int32_t>{0}));
  auto c = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_min_p(c, 0.7f, 2);
  EXPECT_EQ(ids(c), (std::vector<int32_t>{0, 1}));
  auto unsorted = from_probs({0.05, 0.3, 0.15, 0.5});  // filtering keeps vocabulary order
  apply_min_p(unsorted, 0.2f, 1);
  EXPECT_EQ(ids(unsorted), (std::vector<int32_t>{1, 2, 3}));
  auto off = from_probs({0.5, 0.3, 0.15, 0.05});
  apply_min_p(off, 0.0f, 1);
  EXPECT_EQ(off.items.size(), 4u);
}

TEST(Sampling, TypicalKeepsTokensClosestToEntropy) {
  // p = {1/2, 1/4, 1/8, 1/8}: H = 1.75 ln2; surprisal {1, 2, 3, 3} ln2; |s - H| = {0.75, 0.25, 1.25, 1.25} ln2.
  // Typical order: token 1, token 0, token 2, token 3; cumulative 0.25, 0.75, 0.875, 1.0 (kept while <= p).
  auto a = from_probs({0.5, 0.25, 0.125, 0.125});
  apply_typical(a, 0.5f, 1);  // 0.75 > 0.5 at the 2nd
  EXPECT_EQ(sorted_ids(a), (std::vector<int32_t>{0, 1}));
  auto b = from_probs({0.5, 0.25, 0.125, 0.125});
  apply_typical(b, 0.8f, 1);  // 0.875 > 0.8 at the 3rd (token 2 before token 3: stable order)
  EXPECT_EQ(sorted_ids(b), (std::vector<int32_t>{0, 1, 2}));
  auto c = from_probs({0.5, 0.25, 0.125, 0.125});
  apply_typical(c, 0.2f, 1);  // 0.25 > 0.2 at the 1st: only the most typical token, which is not the most likely
  EXPECT_EQ(ids(c), (std::vector<int32_t>{1}));
  auto off = from_probs({0.5, 0.25, 0.125, 0.125});
  apply_typical(off, 1.0f, 1);
  EXPECT_EQ(off.items.size(), 4u);
}

TEST(Sampling, TemperatureScalesLogits) {
  // logits {1, 2} at t = 0.5 -> {2, 4}; p(token 1) = e^4 / (e^2 + e^4) = 1 / (1 + e^-2)
  auto list = CandidateList::from_logits(std::vector<float>{1.0f, 2.0f});
  apply_temperature(list, 0.5f);
  EXPECT_FLOAT_EQ(list.items[0].logit, 2.0f);
  EXPECT_FLOAT_EQ(list.items[1].logit, 4.0f);
  softmax(list);
  EXPECT_NEAR(list.items[1].p, 1.0 / (1.0 + std::exp(-2.0)), 1e-6);
}

TEST(Sampling, DrawWalksTheCumulativeDistribution) {
  // Sorted p = {0.5 (id 0), 0.3 (id 1), 0.2 (id 2)}: u in [0, .5) -> 0, [.5, .8) -> 1, [.8, 1) -> 2.
  const auto make = [] { return from_probs({0.5, 0.3, 0.2}); };
  auto l = make();
  EXPECT_EQ(draw(l, 0.0), 0);
  l = make();
  EXPECT_EQ(draw(l, 0.49), 0);
  l = make();
  EXPECT_EQ(draw(l, 0.51), 1);
  l = make();
  EXPECT_EQ(draw(l, 0.79), 1);
  l = make();
  EXPECT_EQ(draw(l, 0.81), 2);
  l = make();
  EXPECT_EQ(draw(l, 0.9999999), 2);
  // A banned token is never drawn, even for u at the very top.
  auto banned = CandidateList::from_logits(std::vector<float>{0.0f, -kInf});
  EXPECT_EQ(draw(banned, 0.9999999999), 0);
}

}  // namespace
}  // namespace specula::runtime
