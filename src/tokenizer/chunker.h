// Exact chunking of space-escaped text for the merge-based encoders (BPE and SentencePiece).
// Text is cut before every run of U+2581 that follows another character. A merge can only cross such a
// cut if its result contains "X▁" (X not U+2581); the pieces that do (Gemma 4: only ">▁</"; llama: none)
// are searched in the text and cuts inside their occurrences are skipped. Each side of a remaining cut then
// evolves independently in the merge loop (no candidate pair spans it), so encoding chunk by chunk gives
// exactly the tokens of encoding the whole text, and repeated chunks (words) can be served from a cache.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace specula::tokenizer {

// Per-call buffers: the chunk cache and the cut mask. Not shared between threads.
struct ChunkScratch {
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr size_t kMaxEntries = size_t{1} << 16;
  static constexpr size_t kMaxChunkBytes = 64;
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, Hash, std::equal_to<>> cache;  // -> ids range
  std::vector<TokenId> ids;
  std::vector<uint8_t> unsafe;  // per byte: 1 = no cut before it
};

class Chunker {
 public:
  // Collects the pieces (of the given types) that contain a character followed by U+2581. With too many
  // of them, chunking is off and the whole text is one chunk.
  static Chunker build(const Vocab& vocab, bool normal_pieces_only);

  // Calls encode_chunk(chunk, out) for each chunk not in the cache, appending cached ids for the others.
  template <typename EncodeChunk>
  void encode(std::string_view text, std::vector<TokenId>& out, ChunkScratch& s, EncodeChunk&& encode_chunk) const {
    if (!enabled_) {
      encode_chunk(text, out);
      return;
    }
    mark_unsafe_cuts(text, s);
    for (size_t begin = 0; begin < text.size();) {
      const size_t end = next_cut(text, begin, s);
      const std::string_view chunk = text.substr(begin, end - begin);
      begin = end;
      if (chunk.size() > ChunkScratch::kMaxChunkBytes) {
        encode_chunk(chunk, out);
        continue;
      }
      if (const auto hit = s.cache.find(chunk); hit != s.cache.end()) {
        const auto [first, count] = hit->second;
        out.insert(out.end(), s.ids.begin() + first, s.ids.begin() + first + count);
        continue;
      }
      const size_t before = out.size();
      encode_chunk(chunk, out);
      remember(chunk, out, before, s);
    }
  }

 private:
  void mark_unsafe_cuts(std::string_view text, ChunkScratch& s) const;
  static size_t next_cut(std::string_view text, size_t begin, const ChunkScratch& s);
  static void remember(std::string_view chunk, const std::vector<TokenId>& out, size_t before, ChunkScratch& s);

  std::vector<std::string> cross_pieces_;
  bool enabled_ = false;
};

}  // namespace specula::tokenizer
