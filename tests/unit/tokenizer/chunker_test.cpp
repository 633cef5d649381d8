// The chunked encoders give exactly the ids of encoding the whole text in one merge loop (the property
// that makes chunking and the chunk cache legal), including around pieces that span a cut (">▁</").
#include "tokenizer/chunker.h"

#include <gtest/gtest.h>

#include "tokenizer/bpe.h"
#include "tokenizer/spm.h"
#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

std::string escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<std::string> sample_lines() {
  std::vector<std::string> lines = {"<b> </b> x> </y", "a>  </b", ">   </", "  leading   and  trailing  ",
                                    "emoji 🦙🦙 🚀  mixed\tтекст 中文 text"};
  for (const char* name : {"TUTORIAL.ru", "TUTORIAL.cn", "HELLO", "TUTORIAL.de"}) {
    std::istringstream in(testing::read_all(test::shared_dir() + "/assets/text/emacs-tutorials/" + name));
    std::string line;
    for (int i = 0; i < 150 && std::getline(in, line); ++i) lines.push_back(line);
  }
  return lines;
}

TEST(Chunker, Gemma4BpeChunkedEqualsWhole) {
  const Vocab& v = testing::gemma4().vocab();
  const BpeModel bpe = BpeModel::build(v).value();
  const Chunker chunker = Chunker::build(v, false);
  BpeScratch bs;
  ChunkScratch cs;
  size_t n = 0;
  for (const auto& line : sample_lines()) {
    const std::string text = escape(line);
    std::vector<TokenId> whole, chunked;
    bpe.encode(v, text, whole, bs);
    chunker.encode(text, chunked, cs, [&](std::string_view c, std::vector<TokenId>& o) { bpe.encode(v, c, o, bs); });
    EXPECT_EQ(chunked, whole) << line;
    n += whole.size();
  }
  EXPECT_GT(n, 1000u);
}

TEST(Chunker, LlamaSpmChunkedEqualsWhole) {
  const Vocab& v = testing::cached_tokenizer(testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf").vocab();
  const Chunker chunker = Chunker::build(v, true);
  SpmScratch ss;
  ChunkScratch cs;
  for (const auto& line : sample_lines()) {
    const std::string text = escape(" " + line);
    std::vector<TokenId> whole, chunked;
    spm_encode(v, text, whole, ss);
    chunker.encode(text, chunked, cs, [&](std::string_view c, std::vector<TokenId>& o) { spm_encode(v, c, o, ss); });
    EXPECT_EQ(chunked, whole) << line;
  }
}

}  // namespace
}  // namespace specula::tokenizer
