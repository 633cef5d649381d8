// Stop conditions: validation and the end-of-generation / max_tokens decision.
#include "runtime/stop_config.h"

#include <gtest/gtest.h>

namespace specula::runtime {
namespace {

TEST(StopConfig, ValidatesFields) {
  const auto empty = StopConfig::create({{"ok", ""}, -1, false});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message().find("stop[1]"), std::string::npos);
  const auto bad = StopConfig::create({{}, -2, false});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("max_tokens"), std::string::npos);
  EXPECT_TRUE(StopConfig::create({{"\n\n"}, 0, true}).ok());
}

TEST(StopConfig, DecidesWhenToFinish) {
  const auto c = *StopConfig::create({{}, 3, false});
  EXPECT_FALSE(c.finish_after(0, false));
  EXPECT_FALSE(c.finish_after(2, false));
  EXPECT_EQ(c.finish_after(3, false), FinishReason::kLength);
  EXPECT_EQ(c.finish_after(1, true), FinishReason::kStop);
  EXPECT_EQ(c.finish_after(3, true), FinishReason::kStop);  // end of generation takes precedence

  const auto ignore = *StopConfig::create({{}, -1, true});
  EXPECT_FALSE(ignore.finish_after(1000000, true));
  const auto zero = *StopConfig::create({{}, 0, false});
  EXPECT_EQ(zero.finish_after(0, false), FinishReason::kLength);
  EXPECT_STREQ(finish_reason_name(FinishReason::kLength), "length");
  EXPECT_STREQ(finish_reason_name(FinishReason::kStop), "stop");
}

}  // namespace
}  // namespace specula::runtime
