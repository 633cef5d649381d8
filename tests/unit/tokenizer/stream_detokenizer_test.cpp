// Streaming detokenizer: feeding tokens one at a time never yields ill-formed UTF-8 and the pieces
// concatenate to the full detokenized text.
#include "tokenizer/stream_detokenizer.h"

#include <random>

#include <gtest/gtest.h>

#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

// Streams `ids` and checks every returned piece is well-formed; returns the concatenation.
std::string stream_all(const Tokenizer& tok, const std::vector<TokenId>& ids, DetokenizeOptions opts) {
  StreamDetokenizer detok(tok, opts);
  std::string all;
  for (const TokenId id : ids) {
    auto piece = detok.push(id);
    EXPECT_TRUE(piece.ok());
    EXPECT_TRUE(utf8_is_valid(piece.value())) << "piece for token " << id;
    all += piece.value();
  }
  const std::string tail = detok.finish();
  EXPECT_TRUE(utf8_is_valid(tail));
  return all + tail;
}

TEST(StreamDetokenizer, ByteFallbackCharactersAreHeldUntilComplete) {
  const Tokenizer& tok = testing::gemma4();
  // A character with no piece of its own (U+10FFFF) comes out as 4 byte tokens.
  const auto ids = tok.tokenize("x\xF4\x8F\xBF\xBFy", {.add_special = false}).value();
  StreamDetokenizer detok(tok);
  std::vector<std::string> pieces;
  for (const TokenId id : ids) pieces.push_back(detok.push(id).value());
  std::string all;
  for (const auto& p : pieces) {
    EXPECT_TRUE(utf8_is_valid(p));
    all += p;
  }
  EXPECT_EQ(all + detok.finish(), "x\xF4\x8F\xBF\xBFy");
  // The three tokens before the last byte token produce nothing.
  size_t n_empty = 0;
  for (const auto& p : pieces) n_empty += p.empty() ? 1 : 0;
  EXPECT_EQ(n_empty, 3u);
}

TEST(StreamDetokenizer, ConcatenationEqualsDetokenize) {
  const std::string texts[] = {
      "Hello world! Café déjà vu — 123 😊",
      "нещо на Български 🚀 (normal) 😶‍🌫️ 我想在apple工作",
      "    Hello\n    Hello\n\n\t<div>x</div>",
      "\xF4\x8F\xBF\xBF\xF3\xA0\x80\x81 mixed \xF0\x9F\xA6\x99\xF0\x9F\xA6\x99",
  };
  const auto& gemma = testing::gemma4();
  const auto& llama = testing::cached_tokenizer(testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf");
  for (const Tokenizer* tok : {&gemma, &llama}) {
    for (const auto& text : texts) {
      const auto ids = tok->tokenize(text).value();
      for (const bool special : {false, true}) {
        const DetokenizeOptions opts{.render_special = special};
        EXPECT_EQ(stream_all(*tok, ids, opts), tok->detokenize(ids, opts).value());
      }
      // Without BOS the llama text round-trips (the prefixed space is stripped from the first token).
      const auto bare = tok->tokenize(text, {.add_special = false}).value();
      EXPECT_EQ(stream_all(*tok, bare, {}), text);
    }
  }
}

TEST(StreamDetokenizer, RandomTokensNeverYieldBrokenUtf8) {
  const Tokenizer& tok = testing::gemma4();
  std::mt19937 rng(7);
  // Mostly byte tokens (ids 238..493 in Gemma 4), so that partial and invalid sequences are common.
  std::uniform_int_distribution<TokenId> byte_tok(238, 238 + 255);
  std::uniform_int_distribution<TokenId> any_tok(0, tok.n_vocab() - 1);
  for (int round = 0; round < 200; ++round) {
    std::vector<TokenId> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(rng() % 4 == 0 ? any_tok(rng) : byte_tok(rng));
    const std::string streamed = stream_all(tok, ids, {});
    // Well-formed results equal the sanitized full text.
    EXPECT_EQ(streamed, utf8_sanitize(tok.detokenize(ids).value()));
  }
  StreamDetokenizer detok(tok);
  EXPECT_FALSE(detok.push(-1).ok());
  EXPECT_FALSE(detok.push(tok.n_vocab()).ok());
}

}  // namespace
}  // namespace specula::tokenizer
