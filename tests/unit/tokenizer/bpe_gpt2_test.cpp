// GPT-2-style byte-level BPE: llama.cpp's known answers for the GPT-2 vocabulary (pre "gpt-2"), HF `tokenizers`
// on SmolLM2's vocabulary (pre "smollm"; needs models/SmolLM2-135M-Instruct.Q4_1.gguf from
// scripts/fetch-models.sh, SKIPPED without it), the pre-tokenizer split on hand-derived cases, and the
// byte <-> character table.
#include "tokenizer/bpe_gpt2.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

std::vector<std::string> split(std::string_view text, Gpt2PreTokenizer pre) {
  std::vector<std::string_view> words;
  gpt2_pre_split(text, pre, words);
  return {words.begin(), words.end()};
}

using Words = std::vector<std::string>;

TEST(Gpt2PreSplit, HandDerivedGpt2Cases) {
  const auto g = Gpt2PreTokenizer::kGpt2;
  EXPECT_EQ(split("Hello world", g), (Words{"Hello", " world"}));
  EXPECT_EQ(split("it's they're I'LL", g), (Words{"it", "'s", " they", "'re", " I", "'", "LL"}));
  // A whitespace run gives its last space to the next word; at the end it stays whole.
  EXPECT_EQ(split("a   b  ", g), (Words{"a", "  ", " b", "  "}));
  EXPECT_EQ(split("x\n\ny", g), (Words{"x", "\n", "\n", "y"}));
  EXPECT_EQ(split("\t y", g), (Words{"\t", " y"}));
  EXPECT_EQ(split("abc123 45!?", g), (Words{"abc", "123", " 45", "!?"}));
  EXPECT_EQ(split(" !!hi", g), (Words{" !!", "hi"}));
  EXPECT_EQ(split("Äpfel 東京", g), (Words{"Äpfel", " 東京"}));
  EXPECT_EQ(split("", g), Words{});
  // Ill-formed bytes are single "other" characters and join runs of other characters.
  EXPECT_EQ(split("a\xff\xfe b", g), (Words{"a", "\xff\xfe", " b"}));
}

TEST(Gpt2PreSplit, SmollmSplitsEveryDigit) {
  const auto s = Gpt2PreTokenizer::kSmollm;
  EXPECT_EQ(split("abc123 45", s), (Words{"abc", "1", "2", "3", " ", "4", "5"}));
  EXPECT_EQ(split("x ½ y", s), (Words{"x", " ", "½", " y"}));  // ½ is \p{N} (No)
  EXPECT_EQ(split("it's 2024.", s), (Words{"it", "'s", " ", "2", "0", "2", "4", "."}));
}

TEST(Gpt2PreSplit, ParsesPreValues) {
  EXPECT_EQ(parse_gpt2_pre_tokenizer("gpt-2").value(), Gpt2PreTokenizer::kGpt2);
  EXPECT_EQ(parse_gpt2_pre_tokenizer("smollm").value(), Gpt2PreTokenizer::kSmollm);
  const auto bad = parse_gpt2_pre_tokenizer("qwen2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(bad.error().message().find("qwen2"), std::string::npos);
}

TEST(ByteLevel, TableRoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string mapped;
  byte_level_encode(all, mapped);
  std::string back;
  byte_level_decode(mapped, back);
  EXPECT_EQ(back, all);
  // GPT-2's table: space -> U+0120 'Ġ', newline -> U+010A 'Ċ', 'A' -> 'A'.
  std::string s;
  byte_level_encode(" \nA", s);
  EXPECT_EQ(s, "\xC4\xA0\xC4\x8A" "A");
}

TEST(KnownAnswersGpt2, MatchesLlamaCppVectors) {
  const std::string stem = testing::vocab_dir() + "/ggml-vocab-gpt-2.gguf";
  const Tokenizer& tok = testing::cached_tokenizer(stem);
  EXPECT_EQ(tok.vocab().kind(), VocabKind::kGpt2Bpe);
  EXPECT_FALSE(tok.vocab().add_bos());
  const auto texts = testing::read_known_inputs(stem + ".inp");
  const auto expected = testing::read_known_outputs(stem + ".out");
  ASSERT_GE(texts.size(), 40u);
  ASSERT_EQ(texts.size(), expected.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto ids = tok.tokenize(texts[i], {.add_special = false, .parse_special = false});
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids.value(), expected[i]) << "text #" << i << ": '" << texts[i] << "'";
    EXPECT_EQ(tok.detokenize(ids.value()).value(), texts[i]) << "round trip of text #" << i;
  }
}

std::string smollm2_path() { return test::source_dir() + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"; }

// Texts with the features the smollm pre-tokenizer cares about; their ids come from HF tokenizers (below).
const std::vector<std::string>& smollm_texts() {
  static const std::vector<std::string> texts = {
      "Hello world", " leading space", "numbers 3.14159, 2024 and ½ or ²", "it's they're we'll I'd",
      "tabs\tand\n\nnewlines  \n", "Ünïcödé 東京 🦙 emoji", "code: for (int i = 0; i < n; ++i) { x += y; }",
      "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n", "   ", "a\x01" "b\x7f" "c", ""};
  return texts;
}

TEST(HfCrossCheckSmollm2, MatchesHfTokenizers) {
  if (!std::filesystem::exists(smollm2_path())) {
    GTEST_SKIP() << smollm2_path() << " is not available (run scripts/fetch-models.sh)";
  }
  // The reference: a tokenizers BPE built from the GGUF's vocab and merges with SmolLM2's pre-tokenizer.
  nlohmann::json texts = smollm_texts();
  const std::string input = test::temp_dir() + "/smollm_texts.json";
  {
    std::ofstream out(input, std::ios::binary);
    out << texts.dump();
  }
  const std::string cmd = test::python() + " -c \"import sys, json; sys.path.insert(0, '" + test::source_dir() +
                          "/tools/reference'); import real_model_pack as P, gguf; "
                          "tok = P.smollm2_tokenizer(gguf.GGUFReader(sys.argv[1])); "
                          "print(json.dumps([tok.encode(t, add_special_tokens=False).ids for t in "
                          "json.load(open(sys.argv[2]))]))\" '" + smollm2_path() + "' '" + input + "'";
  const auto expected = nlohmann::json::parse(testing::command_output(cmd));
  ASSERT_EQ(expected.size(), smollm_texts().size());
  const Tokenizer& tok = testing::cached_tokenizer(smollm2_path());
  for (size_t i = 0; i < smollm_texts().size(); ++i) {
    const auto ids = tok.tokenize(smollm_texts()[i], {.add_special = true, .parse_special = true});
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids.value(), expected[i].get<std::vector<TokenId>>()) << "text #" << i << ": '" << smollm_texts()[i] << "'";
  }
  // No BOS (add_bos_token false), and <|im_end|> / <|endoftext|> end generation.
  EXPECT_FALSE(tok.vocab().add_bos());
  EXPECT_TRUE(tok.vocab().is_stop(2));
  EXPECT_TRUE(tok.vocab().is_stop(0));
  EXPECT_EQ(tok.detokenize(tok.tokenize(smollm_texts()[5]).value()).value(), smollm_texts()[5]);
}

}  // namespace
}  // namespace specula::tokenizer
