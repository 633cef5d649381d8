// Byte-pair encoding over SentencePiece-style pieces (Gemma 4): a word starts as one symbol per UTF-8
// character and the adjacent pair with the lowest merge rank is merged until no listed merge applies
// (ties: leftmost pair first), the order llama.cpp and HF tokenizers both use. Characters that are not
// pieces, and bytes that are not valid UTF-8, fall back to <0xNN> byte tokens.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/vocab.h"

namespace specula::tokenizer {

// Reusable buffers for one tokenize call (one per thread; BpeModel itself is immutable and shareable).
struct BpeScratch {
  struct Symbol {
    TokenId id;      // piece id, or -1 for a character with no piece (byte fallback)
    uint32_t begin;  // byte range in the word
    uint32_t size;   // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;
    int32_t right;
    TokenId left_id;
    TokenId right_id;
    TokenId merged_id;
  };
  // Direct-mapped memo of merge-table lookups (hits and misses): adjacent pairs repeat a lot in text, and
  // the memo stays in cache where the full table does not.
  struct Memo {
    uint64_t key = ~uint64_t{0};
    int32_t rank = -1;  // -1: the pair does not merge
    TokenId merged = -1;
  };
  static constexpr size_t kMemoBits = 14;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<Memo> memo;
};

class BpeModel {
 public:
  // Resolves every merge "left right" to (rank, left id, right id, merged id). Errors name the first merge
  // that is malformed or names a piece that is not in the vocabulary.
  static Result<BpeModel> build(const Vocab& vocab);

  // Appends the tokens of `word` (already space-escaped) to `out`.
  void encode(const Vocab& vocab, std::string_view word, std::vector<TokenId>& out, BpeScratch& scratch) const;

  size_t n_merges() const { return n_merges_; }

 private:
  struct Entry {
    uint64_t key;  // left << 32 | right; kEmpty when unused
    int32_t rank;
    TokenId merged;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  const Entry* lookup(TokenId left, TokenId right) const;
  // (rank, merged id) of a pair through the scratch memo; rank -1 when the pair does not merge.
  BpeScratch::Memo lookup_memo(TokenId left, TokenId right, BpeScratch& s) const;
  bool insert(TokenId left, TokenId right, int32_t rank, TokenId merged);
  TokenId char_token(const Vocab& vocab, std::string_view ch, uint32_t first_byte) const;
  void push_candidate(BpeScratch& s, int32_t left, int32_t right) const;

  std::vector<Entry> table_;  // open addressing, linear probing, power-of-two size
  uint64_t mask_ = 0;
  size_t n_merges_ = 0;
  TokenId ascii_[128];  // single-byte characters -> piece id (or -1); other characters use Vocab::find
};

}  // namespace specula::tokenizer
