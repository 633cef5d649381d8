// Python-compatible trimming and thought stripping used by the chat renderer (hand-derived expectations).
#include "tokenizer/chat_text.h"

#include <gtest/gtest.h>

namespace specula::tokenizer {
namespace {

TEST(ChatText, TrimsPythonWhitespace) {
  EXPECT_EQ(trim_python_whitespace("  a b \t\n"), "a b");
  EXPECT_EQ(trim_python_whitespace("\x1c\x1f\v\fx\r"), "x");
  // U+3000, U+00A0, U+2028, U+0085, U+202F, U+205F and U+1680 are whitespace to str.strip().
  EXPECT_EQ(trim_python_whitespace("\u3000\u00a0x\u2028\u0085"), "x");
  EXPECT_EQ(trim_python_whitespace("\u202f\u205f\u1680y\u2000\u200a"), "y");
  // U+200B (zero width space) and U+180E are not.
  EXPECT_EQ(trim_python_whitespace("\u200bz\u200b"), "\u200bz\u200b");
  EXPECT_EQ(trim_python_whitespace("\u180ez"), "\u180ez");
  // Multi-byte non-space characters at the edges stay whole.
  EXPECT_EQ(trim_python_whitespace(" 世界 "), "世界");
  EXPECT_EQ(trim_python_whitespace("\xc3\xa9 "), "\xc3\xa9");
  EXPECT_EQ(trim_python_whitespace(" \t "), "");
  EXPECT_EQ(trim_python_whitespace(""), "");
}

TEST(ChatText, StripsThoughtsLikeTheTemplateMacro) {
  EXPECT_EQ(strip_thinking("<|channel>thought\nabc<channel|>Answer"), "Answer");
  EXPECT_EQ(strip_thinking("A <|channel>x<channel|> B <|channel>y<channel|>C"), "A  B C");
  EXPECT_EQ(strip_thinking("keep <|channel>dropped forever"), "keep");
  EXPECT_EQ(strip_thinking("stray<channel|> close"), "stray close");
  EXPECT_EQ(strip_thinking("<channel|><|channel>"), "");
  EXPECT_EQ(strip_thinking("  plain  "), "plain");
  // "<|channel>" twice before one close: everything after the first is dropped.
  EXPECT_EQ(strip_thinking("a<|channel>b<|channel>c<channel|>d"), "ad");
}

TEST(ChatText, ValidatesUtf8) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("Grüße 世界 \U0001F600"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe4\xb8"));          // truncated
}

}  // namespace
}  // namespace specula::tokenizer
