// UTF-8 helpers: expected values derived by hand from the Unicode encoding tables (Table 3-7).
#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

namespace specula::tokenizer {
namespace {

TEST(Utf8, DecodesWellFormedSequences) {
  uint32_t cp = 0;
  EXPECT_EQ(utf8_decode("A", 0, &cp), 1u);
  EXPECT_EQ(cp, 0x41u);
  EXPECT_EQ(utf8_decode("\xC3\xA4", 0, &cp), 2u);  // ä
  EXPECT_EQ(cp, 0xE4u);
  EXPECT_EQ(utf8_decode("\xE2\x96\x81", 0, &cp), 3u);  // ▁
  EXPECT_EQ(cp, 0x2581u);
  EXPECT_EQ(utf8_decode("\xF0\x9F\xA6\x99", 0, &cp), 4u);  // 🦙
  EXPECT_EQ(cp, 0x1F999u);
}

TEST(Utf8, RejectsIllFormedSequences) {
  uint32_t cp = 0;
  EXPECT_EQ(utf8_decode("\x80", 0, &cp), 0u);              // lone continuation
  EXPECT_EQ(utf8_decode("\xC0\x80", 0, &cp), 0u);          // overlong
  EXPECT_EQ(utf8_decode("\xE0\x80\x80", 0, &cp), 0u);      // overlong
  EXPECT_EQ(utf8_decode("\xED\xA0\x80", 0, &cp), 0u);      // surrogate D800
  EXPECT_EQ(utf8_decode("\xF4\x90\x80\x80", 0, &cp), 0u);  // > U+10FFFF
  EXPECT_EQ(utf8_decode("\xE2\x96", 0, &cp), 0u);          // truncated
  EXPECT_FALSE(utf8_is_valid("ab\xFF"));
  EXPECT_TRUE(utf8_is_valid("a\xC3\xA4\xF0\x9F\xA6\x99"));
}

TEST(Utf8, IncompleteTail) {
  EXPECT_EQ(utf8_incomplete_tail("abc"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("a\xE2"), 1u);
  EXPECT_EQ(utf8_incomplete_tail("a\xE2\x96"), 2u);
  EXPECT_EQ(utf8_incomplete_tail("a\xE2\x96\x81"), 0u);
  EXPECT_EQ(utf8_incomplete_tail("\xF0\x9F\xA6"), 3u);
  EXPECT_EQ(utf8_incomplete_tail("a\xFF"), 0u);      // can never become valid
  EXPECT_EQ(utf8_incomplete_tail("a\xE2\x41"), 0u);  // broken already
}

TEST(Utf8, SanitizeReplacesMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("ok"), "ok");
  EXPECT_EQ(utf8_sanitize("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  // E2 96 followed by 'x': the two bytes form one maximal subpart -> one U+FFFD.
  EXPECT_EQ(utf8_sanitize("\xE2\x96x"), "\xEF\xBF\xBDx");
  // ED A0 80 (a surrogate): ED alone is a maximal subpart, then A0 and 80 each.
  EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  std::string s;
  utf8_append(s, 0x1F999);
  EXPECT_EQ(s, "\xF0\x9F\xA6\x99");
}

}  // namespace
}  // namespace specula::tokenizer
