// Stop strings over streamed pieces: hold-back, spanning matches, UTF-8 boundaries.
#include "runtime/stop_matcher.h"

#include <gtest/gtest.h>

namespace specula::runtime {
namespace {

// Feeds pieces; returns everything emitted (including finish() when no stop matched).
std::string run(StopMatcher& m, std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (const auto piece : pieces) out += m.feed(piece).text;
  if (!m.stopped()) out += m.finish();
  return out;
}

TEST(StopMatcher, HoldsBackPossibleStartsAndStopsAcrossPieces) {
  StopMatcher m({"</end>"});
  auto a = m.feed("Hello </");
  EXPECT_EQ(a.text, "Hello ");  // "</" may start the stop string
  EXPECT_FALSE(a.stop_index);
  EXPECT_EQ(m.held_bytes(), 2u);
  auto b = m.feed("en");
  EXPECT_EQ(b.text, "");
  auto c = m.feed("d> tail");
  EXPECT_EQ(c.text, "");
  ASSERT_TRUE(c.stop_index);
  EXPECT_EQ(*c.stop_index, 0u);
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.feed("more").text, "");
  EXPECT_EQ(m.finish(), "");
}

TEST(StopMatcher, ReleasesHeldTextWhenTheMatchFails) {
  StopMatcher m({"</end>"});
  EXPECT_EQ(m.feed("a</e").text, "a");
  EXPECT_EQ(m.feed("x").text, "</ex");
  EXPECT_EQ(m.feed("<").text, "");
  EXPECT_EQ(m.finish(), "<");
}

TEST(StopMatcher, EarliestStopWinsAndTextBeforeItIsEmitted) {
  StopMatcher m({"world", "lo w"});
  const auto out = m.feed("Hello world!");
  EXPECT_EQ(out.text, "Hel");
  ASSERT_TRUE(out.stop_index);
  EXPECT_EQ(*out.stop_index, 1u);
  StopMatcher tie({"ab", "abc"});
  const auto t = tie.feed("xabc");
  EXPECT_EQ(t.text, "x");
  EXPECT_EQ(*t.stop_index, 0u);  // both start at 1: the earlier listed wins
}

TEST(StopMatcher, MatchInsideOnePieceAndOneCharacterAtATime) {
  StopMatcher whole({"STOP"});
  EXPECT_EQ(run(whole, {"abcSTOPdef"}), "abc");
  StopMatcher chars({"STOP"});
  EXPECT_EQ(run(chars, {"a", "S", "T", "S", "T", "O", "P", "x"}), "aST");
  StopMatcher overlap({"aab"});
  EXPECT_EQ(run(overlap, {"a", "a", "a", "b"}), "a");  // "aaab": stop starts at 1
}

TEST(StopMatcher, NoStopsPassesTextThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.feed("anything").text, "anything");
  StopMatcher empty({""});  // ignored
  EXPECT_EQ(empty.feed("abc").text, "abc");
}

TEST(StopMatcher, NeverSplitsAUtf8Character) {
  StopMatcher m({});
  // "é" = C3 A9, "世" = E4 B8 96, "😀" = F0 9F 98 80 arriving byte by byte.
  EXPECT_EQ(m.feed("a\xc3").text, "a");
  EXPECT_EQ(m.feed("\xa9\xe4").text, "\xc3\xa9");
  EXPECT_EQ(m.feed("\xb8").text, "");
  EXPECT_EQ(m.feed("\x96\xf0\x9f").text, "\xe4\xb8\x96");
  EXPECT_EQ(m.feed("\x98").text, "");
  EXPECT_EQ(m.feed("\x80").text, "\xf0\x9f\x98\x80");
  EXPECT_EQ(m.feed("\xf0").text, "");
  EXPECT_EQ(m.finish(), "\xf0");  // finish flushes even an incomplete tail
}

TEST(StopMatcher, MultibyteStopString) {
  StopMatcher m({"。\n"});
  EXPECT_EQ(run(m, {"终", "了", "\xe3\x80", "\x82", "\n", "後"}), "终了");
  EXPECT_TRUE(m.stopped());
}

}  // namespace
}  // namespace specula::runtime
