// Validation of sampling parameters: every bad value is refused with the field's name.
#include "runtime/sampler_config.h"

#include <cmath>
#include <functional>
#include <limits>

#include <gtest/gtest.h>

namespace specula::runtime {
namespace {

void expect_refused(const std::function<void(SamplerParams&)>& edit, const std::string& field) {
  SamplerParams p;
  edit(p);
  const auto c = SamplerConfig::create(p, 100);
  ASSERT_FALSE(c.ok()) << field;
  EXPECT_EQ(c.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(c.error().message().find(field), std::string::npos) << c.error().message();
}

TEST(SamplerConfig, DefaultsAreValid) {
  const auto c = SamplerConfig::create(SamplerParams{}, 100);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->greedy());
  EXPECT_FALSE(c->penalties_enabled());  // repeat 1, presence 0, frequency 0
  EXPECT_EQ(c->n_vocab(), 100);
}

TEST(SamplerConfig, RefusesEachBadField) {
  const float nan = std::nanf("");
  const float inf = std::numeric_limits<float>::infinity();
  expect_refused([&](SamplerParams& p) { p.temperature = nan; }, "temperature");
  expect_refused([](SamplerParams& p) { p.top_k = -1; }, "top_k");
  expect_refused([](SamplerParams& p) { p.top_p = 1.5f; }, "top_p");
  expect_refused([&](SamplerParams& p) { p.top_p = nan; }, "top_p");
  expect_refused([](SamplerParams& p) { p.min_p = -0.1f; }, "min_p");
  expect_refused([](SamplerParams& p) { p.typical_p = 2.0f; }, "typical_p");
  expect_refused([](SamplerParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty");
  expect_refused([&](SamplerParams& p) { p.presence_penalty = inf; }, "presence_penalty");
  expect_refused([&](SamplerParams& p) { p.frequency_penalty = nan; }, "frequency_penalty");
  expect_refused([](SamplerParams& p) { p.penalty_last_n = -2; }, "penalty_last_n");
  expect_refused([](SamplerParams& p) { p.min_keep = 0; }, "min_keep");
  expect_refused([](SamplerParams& p) { p.logit_bias = {{100, 1.0f}}; }, "logit_bias");
  expect_refused([](SamplerParams& p) { p.logit_bias = {{-1, 1.0f}}; }, "logit_bias");
  expect_refused([&](SamplerParams& p) { p.logit_bias = {{3, inf}}; }, "logit_bias");
  expect_refused([](SamplerParams& p) { p.logit_bias = {{3, 1.0f}, {3, 2.0f}}; }, "logit_bias");
  EXPECT_FALSE(SamplerConfig::create(SamplerParams{}, 0).ok());
}

TEST(SamplerConfig, AcceptsEdgesAndBans) {
  SamplerParams p;
  p.temperature = -1.0f;  // greedy
  p.top_p = 0.0f;
  p.min_p = 1.0f;
  p.penalty_last_n = -1;
  p.presence_penalty = 0.5f;
  const std::vector<int32_t> eog = {1, 106};
  ban_tokens(p, eog);
  const auto c = SamplerConfig::create(p, 262144);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->greedy());
  EXPECT_TRUE(c->penalties_enabled());
  ASSERT_EQ(c->params().logit_bias.size(), 2u);
  EXPECT_EQ(c->params().logit_bias[1].token, 106);
  EXPECT_EQ(c->params().logit_bias[1].bias, -std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace specula::runtime
