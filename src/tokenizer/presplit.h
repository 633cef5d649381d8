// Pieces that Gemma's reference tokenizer cuts out of the text before BPE: the SentencePiece user-defined
// symbols, which HF tokenizer.json lists as (non-special) added tokens matched on the raw text, leftmost
// then longest: runs of '\n' and '\t', runs of two or more U+2581, a fixed set of HTML tags, <unusedN> and
// [multimodal]. The GGUF converter keeps them as normal tokens and drops the "added" mark, so they are
// recognised here by their text. llama.cpp does not do this (it BPE-merges "</div>" into 3 tokens where
// HF and SentencePiece give 1); specula follows the reference tokenizer.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace specula::tokenizer {

class PresplitMatcher {
 public:
  struct Match {
    size_t begin;
    size_t size;
    TokenId id;
  };

  // The user-defined pieces of a Gemma vocabulary (only normal tokens with exactly these texts).
  static PresplitMatcher for_gemma(const Vocab& vocab);

  // The leftmost match at or after `pos`, the longest piece there; nullopt when none.
  std::optional<Match> next(std::string_view text, size_t pos) const;
  size_t size() const { return n_pieces_; }

 private:
  void add(const Vocab& vocab, TokenId id);

  // Candidate pieces per first byte, longest first.
  std::array<std::vector<std::pair<std::string_view, TokenId>>, 256> by_first_byte_;
  size_t n_pieces_ = 0;
};

}  // namespace specula::tokenizer
