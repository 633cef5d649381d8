// GPT-2-style byte-level BPE (GGUF tokenizer.ggml.model = "gpt2"): text is cut into words by a pre-tokenizer
// regex chosen by tokenizer.ggml.pre, each word's bytes are mapped to printable code points (GPT-2's
// bytes_to_unicode table: every byte is one character of the vocabulary), and the word is BPE-merged by rank
// (the same merge loop as the Gemma 4 tokenizer, bpe.h). Detokenizing maps the characters back to bytes.
//
// Pre-tokenizers (the regexes as llama.cpp and HF tokenizers apply them; implemented as hand-written matchers):
//   "gpt-2"   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   "smollm"  every \p{N} code point is a word of its own first (HF Digits(individual_digits=true)), then the
//             gpt-2 regex runs on the text between the numbers.
// Other pre values are refused with kUnsupported (a wrong split would silently change every token id).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/bpe.h"
#include "tokenizer/vocab.h"

namespace specula::tokenizer {

enum class Gpt2PreTokenizer { kGpt2, kSmollm };

// Maps tokenizer.ggml.pre to a pre-tokenizer; kUnsupported names the value and the supported ones.
Result<Gpt2PreTokenizer> parse_gpt2_pre_tokenizer(std::string_view pre);

// Splits text into words (byte ranges that tile the text, in order). Ill-formed UTF-8 bytes count as
// one "other" character each, so any bytes are accepted.
void gpt2_pre_split(std::string_view text, Gpt2PreTokenizer pre, std::vector<std::string_view>& words);

// GPT-2's byte <-> character table. byte_level_encode appends the UTF-8 of the character of every byte;
// byte_level_decode appends the byte of every character of a vocabulary piece and copies characters that are
// not in the table (user-defined pieces written as plain text) through unchanged.
void byte_level_encode(std::string_view bytes, std::string& out);
void byte_level_decode(std::string_view piece, std::string& out);

struct Gpt2Scratch {
  std::vector<std::string_view> words;
  std::string mapped;
  BpeScratch bpe;
};

class Gpt2Bpe {
 public:
  // Resolves the pre-tokenizer (vocab.pre()) and the merges. Errors: unsupported pre value, malformed merges.
  static Result<Gpt2Bpe> build(const Vocab& vocab);

  // Appends the tokens of a text fragment (no special tokens in it; the caller cut them out).
  void encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out, Gpt2Scratch& s) const;

  Gpt2PreTokenizer pre_tokenizer() const { return pre_; }

 private:
  Gpt2Bpe(Gpt2PreTokenizer pre, BpeModel bpe) : pre_(pre), bpe_(std::move(bpe)) {}
  Gpt2PreTokenizer pre_;
  BpeModel bpe_;
};

}  // namespace specula::tokenizer
