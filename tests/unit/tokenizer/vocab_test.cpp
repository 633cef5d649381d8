// Vocabulary loading and validation: malformed vocabs are errors (never crashes), special ids and the
// stop set of the Gemma 4 vocab match the reference special-token table, special-token parsing on/off.
#include <gtest/gtest.h>

#include "format/gguf_writer.h"
#include "tokenizer_test_util.h"

namespace specula::tokenizer {
namespace {

// A small valid Gemma-style BPE vocab: pieces, merges and the 256 byte tokens.
VocabData small_bpe() {
  VocabData d;
  d.kind = VocabKind::kGemma4Bpe;
  d.pieces = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "\xE2\x96\x81", "a", "b", "ab",
              "\xE2\x96\x81" "ab"};
  d.types = {TokenType::kControl, TokenType::kControl, TokenType::kControl, TokenType::kControl,
             TokenType::kControl, TokenType::kControl, TokenType::kNormal,  TokenType::kNormal,
             TokenType::kNormal,  TokenType::kNormal,  TokenType::kNormal};
  for (int b = 0; b < 256; ++b) {
    d.pieces.push_back(fmt::format("<0x{:02X}>", b));
    d.types.push_back(TokenType::kByte);
  }
  d.merges = {"a b", "\xE2\x96\x81 ab"};
  d.bos_id = 2;
  d.eos_id = 1;
  d.unk_id = 3;
  return d;
}

std::string error_of(VocabData d) {
  auto v = Vocab::build(std::move(d));
  return v.ok() ? std::string("(ok)") : v.error().message();
}

TEST(Vocab, SmallBpeVocabTokenizes) {
  auto tok = Tokenizer::from_vocab(Vocab::build(small_bpe()).value());
  ASSERT_TRUE(tok.ok()) << tok.error().message();
  // " ab" -> "▁ab"; "ba" has no merge; "c" is not a piece -> byte token 0x63 (id 11 + 0x63).
  EXPECT_EQ(tok->tokenize(" abbac").value(), (std::vector<TokenId>{2, 10, 8, 7, 11 + 0x63}));
  EXPECT_EQ(tok->detokenize({2, 10, 8, 7, 11 + 0x63}).value(), " abbac");
  EXPECT_EQ(tok->vocab().stop_ids(), (std::vector<TokenId>{1, 5}));  // <eos>, <turn|>
  EXPECT_EQ(tok->vocab().eot_id(), std::optional<TokenId>(5));
}

TEST(Vocab, MalformedVocabsAreErrors) {
  auto d = small_bpe();
  d.merges.push_back("a c");
  EXPECT_NE(Tokenizer::from_vocab(Vocab::build(d).value()).ok(), true);
  auto tok_err = Tokenizer::from_vocab(Vocab::build(d).value());
  EXPECT_NE(tok_err.error().message().find("'c'"), std::string::npos) << tok_err.error().message();

  d = small_bpe();
  d.merges.push_back("ab");
  EXPECT_FALSE(Tokenizer::from_vocab(Vocab::build(d).value()).ok());

  d = small_bpe();
  d.merges.clear();
  EXPECT_NE(error_of(d).find("no merges"), std::string::npos);

  d = small_bpe();
  d.bos_id = 100000;
  EXPECT_NE(error_of(d).find("bos token id 100000 is out of range"), std::string::npos) << error_of(d);

  d = small_bpe();
  d.eos_id = -5;
  EXPECT_NE(error_of(d).find("out of range"), std::string::npos);

  d = small_bpe();
  d.pad_id = 0xFFFFFFFFll;  // "none", as llama.cpp's converter writes it
  EXPECT_EQ(error_of(d), "(ok)");

  d = small_bpe();
  d.bos_id.reset();
  EXPECT_NE(error_of(d).find("no BOS id"), std::string::npos);

  d = small_bpe();
  d.scores = {1.0f, 2.0f};
  EXPECT_NE(error_of(d).find("2 scores for 267 tokens"), std::string::npos) << error_of(d);

  d = small_bpe();
  d.types.pop_back();
  EXPECT_NE(error_of(d).find("token types"), std::string::npos);

  d = small_bpe();
  d.pieces[8] = "a";
  EXPECT_NE(error_of(d).find("duplicate piece 'a'"), std::string::npos) << error_of(d);

  d = small_bpe();
  d.pieces[20] = "<0xZZ>";
  EXPECT_NE(error_of(d).find("<0xNN>"), std::string::npos);

  d = small_bpe();
  d.pieces.clear();
  d.types.clear();
  EXPECT_NE(error_of(d).find("empty"), std::string::npos);
}

// GGUF metadata through the real reader: missing or mistyped arrays are errors naming the key.
Result<Tokenizer> from_writer(const format::GgufWriter& w, std::vector<uint8_t>& storage) {
  storage = w.serialize();
  SPECULA_TRY(auto file, format::GgufFile::parse(storage, "test.gguf"));
  return Tokenizer::from_gguf(file);
}

format::GgufWriter valid_writer(const VocabData& d) {
  format::GgufWriter w;
  EXPECT_TRUE(w.set_string("tokenizer.ggml.model", "gemma4").ok());
  EXPECT_TRUE(w.set_array("tokenizer.ggml.tokens", d.pieces).ok());
  std::vector<int32_t> types;
  for (const auto t : d.types) types.push_back(static_cast<int32_t>(t));
  EXPECT_TRUE(w.set_array("tokenizer.ggml.token_type", types).ok());
  EXPECT_TRUE(w.set_array("tokenizer.ggml.merges", d.merges).ok());
  EXPECT_TRUE(w.set_u32("tokenizer.ggml.bos_token_id", 2).ok());
  EXPECT_TRUE(w.set_u32("tokenizer.ggml.eos_token_id", 1).ok());
  return w;
}

TEST(Vocab, GgufMetadataErrors) {
  const VocabData d = small_bpe();
  std::vector<uint8_t> bytes;
  {
    auto w = valid_writer(d);
    auto tok = from_writer(w, bytes);
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    EXPECT_EQ(tok->tokenize("ab", {.add_special = false}).value(), (std::vector<TokenId>{9}));
  }
  {
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.tokens");
    auto tok = from_writer(w, bytes);
    ASSERT_FALSE(tok.ok());
    EXPECT_NE(tok.error().message().find("tokenizer.ggml.tokens' is missing"), std::string::npos);
  }
  {
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.merges");
    auto tok = from_writer(w, bytes);
    ASSERT_FALSE(tok.ok());
    EXPECT_NE(tok.error().message().find("tokenizer.ggml.merges"), std::string::npos);
  }
  {
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.merges");
    ASSERT_TRUE(w.set_array("tokenizer.ggml.merges", std::vector<int32_t>{1, 2}).ok());
    auto tok = from_writer(w, bytes);
    ASSERT_FALSE(tok.ok());
    EXPECT_NE(tok.error().message().find("is not a string"), std::string::npos) << tok.error().message();
  }
  {
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.token_type");
    ASSERT_TRUE(w.set_array("tokenizer.ggml.token_type", std::vector<int32_t>{1, 9}).ok());
    auto tok = from_writer(w, bytes);
    ASSERT_FALSE(tok.ok());
  }
  {
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.bos_token_id");
    ASSERT_TRUE(w.set_string("tokenizer.ggml.bos_token_id", "two").ok());
    EXPECT_FALSE(from_writer(w, bytes).ok());
  }
  {
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.model");
    ASSERT_TRUE(w.set_string("tokenizer.ggml.model", "t5").ok());
    auto tok = from_writer(w, bytes);
    ASSERT_FALSE(tok.ok());
    EXPECT_EQ(tok.error().code(), ErrorCode::kUnsupported);
  }
  {
    // Ollama's Gemma 4 files: model "llama" with merges and a gemma4 architecture -> the BPE tokenizer.
    auto w = valid_writer(d);
    w.erase("tokenizer.ggml.model");
    ASSERT_TRUE(w.set_string("tokenizer.ggml.model", "llama").ok());
    ASSERT_TRUE(w.set_string("general.architecture", "gemma4").ok());
    auto tok = from_writer(w, bytes);
    ASSERT_TRUE(tok.ok()) << tok.error().message();
    EXPECT_EQ(tok->vocab().kind(), VocabKind::kGemma4Bpe);
  }
  {
    format::GgufWriter w;
    auto tok = from_writer(w, bytes);
    ASSERT_FALSE(tok.ok());
    EXPECT_NE(tok.error().message().find("no usable tokenizer"), std::string::npos);
  }
}

TEST(Vocab, Gemma4SpecialTokensMatchTheReferenceTable) {
  const Vocab& v = testing::gemma4().vocab();
  EXPECT_EQ(v.kind(), VocabKind::kGemma4Bpe);
  EXPECT_EQ(v.n_tokens(), 262144);
  // shared/assets/gemma/gemma4-special-tokens.tsv: id, piece, GGUF token type.
  std::istringstream rows(testing::read_all(test::shared_dir() + "/assets/gemma/gemma4-special-tokens.tsv"));
  std::string line;
  std::getline(rows, line);  // header
  size_t n = 0;
  while (std::getline(rows, line)) {
    const size_t t1 = line.find('\t');
    const size_t t2 = line.find('\t', t1 + 1);
    const auto id = static_cast<TokenId>(std::stoi(line.substr(0, t1)));
    EXPECT_EQ(v.piece(id), line.substr(t1 + 1, t2 - t1 - 1));
    EXPECT_EQ(static_cast<int>(v.type(id)), std::stoi(line.substr(t2 + 1)));
    EXPECT_TRUE(v.is_special(id));
    ++n;
  }
  EXPECT_EQ(n, 24u);
  EXPECT_EQ(v.special_ids().size(), 24u);
  EXPECT_EQ(v.bos_id(), std::optional<TokenId>(2));
  EXPECT_EQ(v.eos_id(), std::optional<TokenId>(1));
  EXPECT_EQ(v.eot_id(), std::optional<TokenId>(106));
  EXPECT_TRUE(v.add_bos());
  EXPECT_FALSE(v.add_space_prefix());
  // docs/gemma4-spec.md: stop set for serving {1, 106, 50} (<eos>, <turn|>, <|tool_response>).
  EXPECT_EQ(v.stop_ids(), (std::vector<TokenId>{1, 50, 106}));
}

TEST(Tokenizer, ParseSpecialOnAndOff) {
  const Tokenizer& tok = testing::gemma4();
  const std::string text = "<|turn>user\nHi<turn|><|\"|>";
  const auto on = tok.tokenize(text).value();
  ASSERT_GE(on.size(), 5u);
  EXPECT_EQ(on.front(), 2);  // <bos>
  EXPECT_EQ(on[1], 105);     // <|turn>
  EXPECT_EQ(on[on.size() - 2], 106);
  EXPECT_EQ(on.back(), 52);
  // Off: the same characters never produce a control or user-defined token.
  const auto off = tok.tokenize(text, {.add_special = false, .parse_special = false}).value();
  for (const TokenId id : off) EXPECT_FALSE(tok.vocab().is_special(id)) << id;
  EXPECT_EQ(tok.detokenize(off).value(), text);
  // Detokenize hides control tokens unless asked; user-defined ones (<|"|>) always show.
  EXPECT_EQ(tok.detokenize(on).value(), "user\nHi<|\"|>");
  EXPECT_EQ(tok.detokenize(on, {.render_special = true}).value(), "<bos><|turn>user\nHi<turn|><|\"|>");
  EXPECT_FALSE(tok.detokenize({262144}).ok());
  EXPECT_FALSE(tok.token_to_piece(-1).ok());
}

TEST(Tokenizer, LlamaSpacePrefixAndSpecialTokens) {
  const auto& tok = testing::cached_tokenizer(testing::vocab_dir() + "/ggml-vocab-llama-spm.gguf");
  // A space is prefixed at the start and after each special token (llama.cpp), and <s> is recognised only
  // with parse_special.
  EXPECT_EQ(tok.tokenize("Hello<s>Hello").value(), (std::vector<TokenId>{1, 15043, 1, 15043}));
  const auto plain = tok.tokenize("<s>", {.add_special = false, .parse_special = false}).value();
  for (const TokenId id : plain) EXPECT_EQ(tok.vocab().type(id), TokenType::kNormal) << id;
  EXPECT_EQ(tok.detokenize(plain).value(), "<s>");
  // Byte fallback: U+10FFFF is not a piece -> 4 byte tokens (<0xF4> = 3 + 0xF4).
  EXPECT_EQ(tok.tokenize("\xF4\x8F\xBF\xBF", {.add_special = false}).value(),
            (std::vector<TokenId>{29871, 3 + 0xF4, 3 + 0x8F, 3 + 0xBF, 3 + 0xBF}));
  EXPECT_EQ(tok.vocab().stop_ids(), (std::vector<TokenId>{2}));
}

TEST(Tokenizer, Phi3StopSetAndRstrip) {
  const auto& tok = testing::cached_tokenizer(testing::vocab_dir() + "/ggml-vocab-phi-3.gguf");
  EXPECT_EQ(tok.vocab().stop_ids(), (std::vector<TokenId>{2, 32000, 32007}));  // </s>, <|endoftext|>, <|end|>
  // llama.cpp's Phi-3 rule: <|user|> eats the whitespace after it.
  EXPECT_EQ(tok.tokenize("<|user|>  \nHi").value(), tok.tokenize("<|user|>Hi").value());
}

}  // namespace
}  // namespace specula::tokenizer
