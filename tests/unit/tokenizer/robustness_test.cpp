// Fuzz-style robustness: random bytes through tokenize and detokenize never crash, and tokenization of
// any byte string is lossless (detokenize gives the bytes back, ill-formed UTF-8 included).
#include <random>

#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

std::string random_bytes(std::mt19937& rng, size_t max_len) {
  // Bias towards bytes that matter: UTF-8 lead/continuation bytes, '<', '\n', ' ', '\t', ASCII letters.
  static const char kInteresting[] = {'<', '>', '|', '\n', ' ', '\t', 'a', 'e', '\xE2', '\x96', '\x81', '\xF0',
                                      '\x9F', '\x80', '\xBF', '\xC3', '\xFF', '\0', '"', '/'};
  std::string s(rng() % (max_len + 1), '\0');
  for (char& c : s) c = rng() % 2 ? kInteresting[rng() % sizeof(kInteresting)] : static_cast<char>(rng() & 0xFF);
  // A literal U+2581 is the space marker and decodes as ' ' (covered by the HF cross-check); keep it out so
  // that the round trip below is exact.
  for (size_t at = s.find("\xE2\x96\x81"); at != std::string::npos; at = s.find("\xE2\x96\x81", at)) s[at + 2] = 'x';
  return s;
}

void fuzz(const Tokenizer& tok, uint32_t seed, int rounds) {
  std::mt19937 rng(seed);
  for (int i = 0; i < rounds; ++i) {
    const std::string text = random_bytes(rng, 200);
    for (const bool special : {false, true}) {
      auto ids = tok.tokenize(text, {.add_special = false, .parse_special = special});
      ASSERT_TRUE(ids.ok());
      for (const TokenId id : ids.value()) ASSERT_TRUE(tok.vocab().valid_id(id));
      if (!special) {
        ASSERT_EQ(tok.detokenize(ids.value()).value(), text);
      }
    }
    // Random ids (valid and invalid) through detokenize: a value or an error, never a crash.
    std::vector<TokenId> ids;
    for (int k = 0; k < 20; ++k) ids.push_back(static_cast<TokenId>(rng() % (tok.n_vocab() + 10)) - 5);
    auto text_back = tok.detokenize(ids, {.render_special = (rng() & 1) != 0});
    bool all_valid = true;
    for (const TokenId id : ids) all_valid = all_valid && tok.vocab().valid_id(id);
    EXPECT_EQ(text_back.ok(), all_valid);
  }
}

TEST(Robustness, RandomBytesGemma4) { fuzz(testing::gemma4(), 1, 300); }

TEST(Robustness, RandomBytesLlamaSpm) {
  fuzz(testing::cached_tokenizer(testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf"), 2, 300);
}

TEST(Robustness, RandomBytesStories260K) {
  fuzz(testing::cached_tokenizer(test::shared_dir() + "/assets/stories260K/stories260K.gguf"), 3, 300);
}

}  // namespace
}  // namespace specula::tokenizer
