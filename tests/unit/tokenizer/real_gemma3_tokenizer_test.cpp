// The tokenizer of the real Gemma 3 270M GGUF (tokenizer.ggml.model "llama": SentencePiece scores with
// user-defined pieces) against HF `tokenizers` with the official Gemma 3 tokenizer.json, on the 3000 generated
// strings of tests/data/tokenizer/gemma_hf_cases.jsonl.xz (ids made from that tokenizer.json). Needs
// models/gemma-3-270m-q4_k_m.gguf from scripts/fetch-models.sh; SKIPPED without it.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

TEST(RealGemma3Tokenizer, MatchesHfTokenizersOnGeneratedStrings) {
  const std::string path = test::source_dir() + "/models/gemma-3-270m-q4_k_m.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not available (run scripts/fetch-models.sh)";
  const Tokenizer& tok = testing::cached_tokenizer(path);
  EXPECT_EQ(tok.vocab().kind(), VocabKind::kLlamaSpm);
  const std::string cases = test::source_dir() + "/tests/data/tokenizer/gemma_hf_cases.jsonl.xz";
  std::istringstream lines(testing::command_output("xz -dc '" + cases + "'"));
  std::string line;
  size_t n = 0, n_mismatch = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    const std::string text = j.at("text").get<std::string>();
    const auto want = j.at("ids").get<std::vector<TokenId>>();
    // Plain text: control tokens are not parsed (the perplexity tool's setting); user-defined pieces are.
    const auto ids = tok.tokenize(text, {.add_special = false, .parse_special = false});
    ASSERT_TRUE(ids.ok());
    if (ids.value() != want && ++n_mismatch <= 10) {
      ADD_FAILURE() << "text '" << text << "': " << ::testing::PrintToString(ids.value()) << " vs HF "
                    << ::testing::PrintToString(want);
    }
    ++n;
  }
  EXPECT_EQ(n, 3000u);
  EXPECT_EQ(n_mismatch, 0u);
  // "\n" is the user-defined piece 107 with and without special-token parsing (a byte token would be 248).
  EXPECT_EQ(tok.tokenize("a\nb", {.add_special = false, .parse_special = false}).value(),
            tok.tokenize("a\nb", {.add_special = false, .parse_special = true}).value());
}

}  // namespace
}  // namespace specula::tokenizer
