// Text <-> token ids for a model's vocabulary (Gemma 4 BPE, llama SentencePiece or GPT-2-style byte-level BPE,
// whose text fragments are pre-split and byte-mapped instead of space-escaped: bpe_gpt2.h), following llama.cpp's
// tokenizer so that ids match the GGUF's reference behaviour. Immutable after construction and safe to
// use from several threads at once; copies share the same tables.
//
// Tokenize: optional BOS, then special tokens (control ones only when parse_special) are cut out first, longest
// piece first; every remaining text fragment is space-escaped (' ' -> U+2581) and encoded (llama vocabs
// also get a leading space when they ask for it, at the start and after every special token).
// Detokenize: pieces -> text (U+2581 -> ' ', <0xNN> -> the byte); control tokens are hidden unless
// render_special; llama vocabs with add_space_prefix drop one leading space of the first piece.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/vocab.h"

namespace specula::format {
class GgufFile;
}

namespace specula::tokenizer {

struct TokenizeOptions {
  // Add the vocabulary's BOS (and EOS, for the rare vocabs that ask for it), if the vocabulary adds them.
  bool add_special = true;
  // Recognise control token pieces in the text (e.g. "<|turn>"). When false they are never produced: their
  // text is tokenized as ordinary characters. The user-defined pieces of SentencePiece vocabularies are
  // recognised either way (llama.cpp and HF treat them as part of the text's vocabulary; Gemma 3's "\n").
  bool parse_special = true;
};

struct DetokenizeOptions {
  // Render control tokens (<bos>, <turn|>, ...) as their piece text instead of nothing.
  bool render_special = false;
  // llama vocabularies with add_space_prefix: drop one leading space of the first token's text (the
  // inverse of the space that tokenize prepends). Streams that continue a text turn it off.
  bool strip_leading_space = true;
};

class Tokenizer {
 public:
  static Result<Tokenizer> from_gguf(const format::GgufFile& file);
  static Result<Tokenizer> from_vocab(Vocab vocab);

  const Vocab& vocab() const;
  int32_t n_vocab() const { return vocab().n_tokens(); }

  // Errors only for text longer than 2 GiB (kOutOfRange). Any bytes are accepted: ill-formed UTF-8
  // becomes byte tokens.
  Result<std::vector<TokenId>> tokenize(std::string_view text, const TokenizeOptions& options = {}) const;

  // The text of one token as it appears in the output (no leading-space stripping). Ids out of range are
  // an error (kOutOfRange); so are they in detokenize.
  Result<std::string> token_to_piece(TokenId id, bool render_special = false) const;
  Result<std::string> detokenize(const std::vector<TokenId>& ids, const DetokenizeOptions& options = {}) const;

  // Same as token_to_piece for a valid id, without a Result (the caller checked the id).
  void append_piece(TokenId id, bool render_special, std::string& out) const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace specula::tokenizer
