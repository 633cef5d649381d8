// The logprobs JSON of each API on the Llama-2 SentencePiece vocab (ids 3..258 are the byte tokens <0x00>..<0xFF>;
// control tokens render as ""): shapes, partial UTF-8 pieces, text offsets.
#include "server/logprobs_json.h"

#include <gtest/gtest.h>

#include "../tokenizer/tokenizer_test_util.h"
#include "format/gguf_reader.h"
#include "test_paths.h"

namespace specula::server {
namespace {

using json = nlohmann::json;

constexpr int32_t byte_token(int b) { return 3 + b; }

class LogprobsJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = tokenizer::testing::load_tokenizer(tokenizer::testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf");
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    tok_.emplace(std::move(tok.value()));
    auto the = tok_->tokenize("the", {.add_special = false});  // one piece "▁the" (space prefix)
    ASSERT_TRUE(the.ok());
    ASSERT_EQ(the->size(), 1u);
    the_ = the->front();
  }
  std::optional<tokenizer::Tokenizer> tok_;
  int32_t the_ = 0;
};

TEST(CompleteUtf8Prefix, CutsOnlyATrailingIncompleteCharacter) {
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3\xA9"), 3u);      // "aé" complete
  EXPECT_EQ(complete_utf8_prefix("a\xC3"), 1u);          // é cut after its lead byte
  EXPECT_EQ(complete_utf8_prefix("a\xE2\x82"), 1u);      // € (E2 82 AC) cut after two bytes
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98"), 0u);   // an emoji cut after three bytes
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(complete_utf8_prefix("\xAC"), 1u);           // a lone continuation byte is not a cut-off lead
}

TEST_F(LogprobsJsonTest, ChatAndLlamaEntries) {
  const std::vector<runtime::TokenLogprobs> lp = {
      {the_, -0.5f, {{the_, -0.5f}, {byte_token(0xE2), -1.5f}}},
      {byte_token(0xE2), -2.0f, {}},
      {2, -0.25f, {{2, -0.25f}}},  // </s>: a control token
  };
  const json chat = logprobs_json(Api::kChat, lp, *tok_, nullptr);
  ASSERT_TRUE(chat.contains("content"));
  const json& c = chat["content"];
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0]["id"], the_);
  EXPECT_EQ(c[0]["token"], " the");
  EXPECT_EQ(c[0]["bytes"], json({32, 116, 104, 101}));
  EXPECT_EQ(c[0]["logprob"].get<float>(), -0.5f);
  ASSERT_EQ(c[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(c[0]["top_logprobs"][1]["token"], "");  // the lead byte of a 3-byte character alone: cut
  EXPECT_EQ(c[0]["top_logprobs"][1]["bytes"], json({0xE2}));
  EXPECT_EQ(c[0]["top_logprobs"][1]["id"], byte_token(0xE2));
  EXPECT_FALSE(c[0]["top_logprobs"][1].contains("top_logprobs"));
  EXPECT_EQ(c[1]["top_logprobs"], json::array());
  EXPECT_EQ(c[2]["token"], "");
  EXPECT_EQ(c[2]["bytes"], json::array());
  // /completion's completion_probabilities is the same array.
  EXPECT_EQ(logprobs_json(Api::kLlamaCompletion, lp, *tok_, nullptr), c);
}

TEST_F(LogprobsJsonTest, CompletionsObjectAndTextOffsets) {
  // " the" then "€" as three byte tokens E2 82 AC, then " the" again.
  const std::vector<runtime::TokenLogprobs> lp = {
      {the_, -0.5f, {{the_, -0.5f}, {byte_token(0xE2), -1.0f}}},
      {byte_token(0xE2), -1.0f, {}},
      {byte_token(0x82), -0.1f, {}},
      {byte_token(0xAC), -0.2f, {}},
      {the_, -0.3f, {}},
  };
  size_t offset = 10;  // a stream's running count
  const json j = logprobs_json(Api::kCompletions, lp, *tok_, &offset);
  EXPECT_EQ(j["tokens"][0], " the");
  EXPECT_EQ(j["tokens"][1], "");
  EXPECT_EQ(j["token_logprobs"][2].get<float>(), -0.1f);
  EXPECT_EQ(j["top_logprobs"][0], json({{" the", -0.5f}, {"", -1.0f}}));
  EXPECT_EQ(j["top_logprobs"][1], json::object());
  EXPECT_EQ(j["tokens"][3], "\xEF\xBF\xBD");  // a lone continuation byte: U+FFFD
  // Characters: " the" = 4, "€" = 1 (counted at its lead byte).
  EXPECT_EQ(j["text_offset"], json({10, 14, 15, 15, 15}));
  EXPECT_EQ(offset, 19u);
}

}  // namespace
}  // namespace specula::server
