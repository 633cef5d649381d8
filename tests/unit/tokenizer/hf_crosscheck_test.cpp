// Randomized cross-check against HuggingFace `tokenizers`: tests/data/tokenizer/gemma_hf_cases.jsonl.xz
// holds 3000 generated strings (mixed scripts, whitespace runs, emoji, random code points, markup, code)
// and the ids that the Gemma 3 tokenizer.json gives them (same text vocabulary and merges as Gemma 4; see
// tools/reference/tokenizer_hf_cases.py, which also checks that the ids agree between the two vocabs).
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

struct HfCase {
  std::string text;
  std::vector<TokenId> ids;
};

std::vector<HfCase> load_cases() {
  const std::string path = test::source_dir() + "/tests/data/tokenizer/gemma_hf_cases.jsonl.xz";
  std::istringstream lines(testing::command_output("xz -dc '" + path + "'"));
  std::vector<HfCase> cases;
  std::string line;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<TokenId>>()});
  }
  return cases;
}

TEST(HfCrossCheck, Gemma4MatchesHfTokenizersOnGeneratedStrings) {
  const auto cases = load_cases();
  ASSERT_EQ(cases.size(), 3000u);
  const Tokenizer& tok = testing::gemma4();
  TokenizeOptions opts;
  opts.add_special = false;
  opts.parse_special = false;
  size_t n_mismatch = 0;
  for (const auto& c : cases) {
    const auto ids = tok.tokenize(c.text, opts);
    ASSERT_TRUE(ids.ok());
    if (ids.value() != c.ids && ++n_mismatch <= 10) {
      ADD_FAILURE() << "text '" << c.text << "': " << ::testing::PrintToString(ids.value()) << " vs HF "
                    << ::testing::PrintToString(c.ids);
    }
    // Round trip, except that a literal U+2581 in the input is SentencePiece's space marker and comes back
    // as a space (HF decodes it the same way).
    std::string expected_text;
    for (size_t pos = 0; pos < c.text.size();) {
      const bool marker = c.text.compare(pos, 3, "\xE2\x96\x81") == 0;
      expected_text += marker ? ' ' : c.text[pos];
      pos += marker ? 3 : 1;
    }
    EXPECT_EQ(tok.detokenize(ids.value()).value(), expected_text);
  }
  EXPECT_EQ(n_mismatch, 0u);
}

}  // namespace
}  // namespace specula::tokenizer
