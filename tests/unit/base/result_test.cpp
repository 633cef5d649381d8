#include "base/result.h"

#include <gtest/gtest.h>

namespace specula {
namespace {

Result<int> parse_positive(int x) {
  if (x <= 0) return make_error(ErrorCode::kInvalidArgument, "{} is not positive", x);
  return x;
}

Result<int> twice(int x) {
  SPECULA_TRY(const int v, parse_positive(x));
  return 2 * v;
}

TEST(Result, PropagatesValuesAndErrors) {
  EXPECT_EQ(twice(4).value(), 8);
  const auto bad = twice(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().message(), "-1 is not positive");
  EXPECT_EQ(bad.error().with_context("flag -n").message(), "flag -n: -1 is not positive");
}

}  // namespace
}  // namespace specula
