#include "tokenizer/chunker.h"

namespace specula::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581
constexpr size_t kMaxCrossPieces = 64;

}  // namespace

Chunker Chunker::build(const Vocab& vocab, bool normal_pieces_only) {
  Chunker c;
  for (TokenId id = 0; id < vocab.n_tokens(); ++id) {
    if (normal_pieces_only && vocab.type(id) != TokenType::kNormal) continue;
    const std::string_view p = vocab.piece(id);
    for (size_t at = p.find(kSpace, 1); at != std::string_view::npos; at = p.find(kSpace, at + 1)) {
      if (!p.substr(0, at).ends_with(kSpace)) {
        c.cross_pieces_.emplace_back(p);
        break;
      }
    }
  }
  c.enabled_ = c.cross_pieces_.size() <= kMaxCrossPieces;
  return c;
}

void Chunker::mark_unsafe_cuts(std::string_view text, ChunkScratch& s) const {
  s.unsafe.clear();
  for (const std::string& piece : cross_pieces_) {
    for (size_t at = text.find(piece); at != std::string_view::npos; at = text.find(piece, at + 1)) {
      if (s.unsafe.empty()) s.unsafe.assign(text.size(), 0);
      for (size_t k = at + 1; k < at + piece.size(); ++k) s.unsafe[k] = 1;
    }
  }
}

// The next U+2581 after `begin` that follows a character other than U+2581 (and is not marked unsafe).
size_t Chunker::next_cut(std::string_view text, size_t begin, const ChunkScratch& s) {
  for (size_t at = text.find(kSpace, begin + 1); at != std::string_view::npos; at = text.find(kSpace, at + 1)) {
    const bool after_space = at >= kSpace.size() && text.substr(at - kSpace.size(), kSpace.size()) == kSpace;
    if (!after_space && (s.unsafe.empty() || s.unsafe[at] == 0)) return at;
  }
  return text.size();
}

void Chunker::remember(std::string_view chunk, const std::vector<TokenId>& out, size_t before, ChunkScratch& s) {
  if (s.cache.size() >= ChunkScratch::kMaxEntries) return;
  const auto first = static_cast<uint32_t>(s.ids.size());
  s.ids.insert(s.ids.end(), out.begin() + static_cast<ptrdiff_t>(before), out.end());
  s.cache.emplace(std::string(chunk), std::make_pair(first, static_cast<uint32_t>(out.size() - before)));
}

}  // namespace specula::tokenizer
