// Byte-pair encoding over SentencePiece-style pieces (Gemma 4): a word starts as one symbol per UTF-8
// character and the adjacent pair with the lowest merge rank is merged until no listed merge applies
// (ties: leftmost pair first), the order llama.cpp and HF tokenizers both use. Characters that are not
// pieces, and bytes that are not valid UTF-8, fall back to <0xNN> byte tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
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
  // Chunk text -> its tokens (a range of cache_ids). Text repeats words, so most chunks are looked up.
  struct ChunkHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr size_t kMaxCachedChunks = size_t{1} << 16;
  static constexpr size_t kMaxCachedChunkBytes = 64;
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<Memo> memo;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, ChunkHash, std::equal_to<>> cache;
  std::vector<TokenId> cache_ids;
  std::vector<uint8_t> unsafe;  // per byte of the current text: 1 = no chunk boundary before it
};

class BpeModel {
 public:
  // Resolves every merge "left right" to (rank, left id, right id, merged id). Errors name the first merge
  // that is malformed or names a piece that is not in the vocabulary.
  static Result<BpeModel> build(const Vocab& vocab);

  // Appends the tokens of `text` (already space-escaped) to `out`. The text is cut into chunks before
  // each run of U+2581 that follows another character; no merge can cross such a cut unless a piece
  // spans it (checked against cross_pieces_), so chunks are encoded (and cached) independently with
  // exactly the result of encoding the whole text.
  void encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out, BpeScratch& scratch) const;

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
  void encode_chunk(const Vocab& vocab, std::string_view word, std::vector<TokenId>& out, BpeScratch& s) const;
  void mark_unsafe_cuts(std::string_view text, BpeScratch& s) const;

  std::vector<Entry> table_;  // open addressing, linear probing, power-of-two size
  uint64_t mask_ = 0;
  size_t n_merges_ = 0;
  TokenId ascii_[128];  // single-byte characters -> piece id (or -1); other characters use Vocab::find
  // Pieces that contain a character followed by U+2581 (Gemma 4: only ">▁</"): merges may cross a cut
  // only inside an occurrence of one of them. Chunking is off when there are too many to search.
  std::vector<std::string> cross_pieces_;
  bool chunking_ = true;
};

}  // namespace specula::tokenizer
