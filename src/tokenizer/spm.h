// SentencePiece-style merging for "llama" vocabularies, the way llama.cpp does it: start from one symbol
// per UTF-8 character, repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece
// (ties: leftmost), then emit pieces, with <0xNN> byte tokens for characters that are not pieces.
// Only normal pieces take part, so control and user-defined tokens never come out of plain text.
// Ill-formed UTF-8 bytes are single symbols (byte tokens), so every input round-trips.
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace specula::tokenizer {

struct SpmScratch {
  struct Symbol {
    uint32_t begin;
    uint32_t size;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    float score;
    int32_t left;
    int32_t right;
    uint32_t size;  // byte size of the merged piece (stale when the sides changed)
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

// Appends the tokens of `text` (already space-escaped, prefix added by the caller) to `out`.
void spm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out, SpmScratch& scratch);

}  // namespace specula::tokenizer
