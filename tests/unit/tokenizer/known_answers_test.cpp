// llama.cpp's tokenizer known-answer files (shared/assets/llamacpp-vocab, produced by llama.cpp's
// convert_hf_to_gguf_update.py from the HF tokenizers): every text must tokenize to exactly the listed ids
// (no BOS), and detokenize back to the text.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

using testing::read_known_inputs;
using testing::read_known_outputs;

void check_known_answers(const Tokenizer& tok, const std::string& stem) {
  const auto texts = read_known_inputs(stem + ".inp");
  const auto expected = read_known_outputs(stem + ".out");
  ASSERT_EQ(texts.size(), 46u);
  ASSERT_EQ(texts.size(), expected.size());
  TokenizeOptions opts;
  opts.add_special = false;
  opts.parse_special = false;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ids = tok.tokenize(texts[i], opts);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(ids.value(), expected[i]) << "text #" << i << ": '" << texts[i] << "'";
    auto back = tok.detokenize(ids.value());
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back.value(), texts[i]) << "round trip of text #" << i;
  }
}

TEST(KnownAnswers, Gemma4) {
  check_known_answers(testing::gemma4(), testing::vocab_dir() + "/ggml-vocab-gemma-4.gguf");
}

TEST(KnownAnswers, LlamaSpm) {
  const std::string stem = testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf";
  check_known_answers(testing::cached_tokenizer(stem), stem);
}

TEST(KnownAnswers, Phi3) {
  const std::string stem = testing::vocab_dir() + "/ggml-vocab-phi-3.gguf";
  check_known_answers(testing::cached_tokenizer(stem), stem);
}

TEST(KnownAnswers, Stories260K) {
  // llama.cpp de3ff81 on this file (shared/assets/stories260K/llamacpp-oracle/README.md).
  const auto& tok = testing::cached_tokenizer(test::shared_dir() + "/assets/stories260K/stories260K.gguf");
  auto ids = tok.tokenize("Once upon a time");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids.value(), (std::vector<TokenId>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok.detokenize(ids.value()).value(), " Once upon a time");  // llama.cpp keeps the space after BOS
  // llama-perplexity split the BOS-prefixed tinystories subset into 121 chunks of 128 and 60 of 256 tokens,
  // and the first 100000 bytes of tinyshakespeare into 485 chunks of 128.
  const std::string stories = testing::read_all(test::shared_dir() + "/assets/text/tinystories-valid-subset-30k.txt");
  const size_t n_stories = tok.tokenize(stories).value().size();
  EXPECT_EQ(n_stories / 128, 121u);
  EXPECT_EQ(n_stories / 256, 60u);
  const std::string shakespeare =
      testing::read_all(test::shared_dir() + "/assets/text/tinyshakespeare.txt").substr(0, 100000);
  EXPECT_EQ(tok.tokenize(shakespeare).value().size() / 128, 485u);
}

}  // namespace
}  // namespace specula::tokenizer
