#include "tokenizer/spm.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace specula::tokenizer {
namespace {

// Heap order: the highest score on top, then the leftmost pair.
bool worse(const SpmScratch::Candidate& a, const SpmScratch::Candidate& b) {
  return a.score < b.score || (a.score == b.score && a.left > b.left);
}

std::optional<TokenId> normal_piece(const Vocab& vocab, std::string_view text) {
  const auto id = vocab.find(text);
  if (!id || vocab.type(*id) != TokenType::kNormal) return std::nullopt;
  return id;
}

void push_candidate(const Vocab& vocab, std::string_view text, SpmScratch& s, int32_t left, int32_t right) {
  if (left < 0 || right < 0) return;
  const auto& l = s.symbols[static_cast<size_t>(left)];
  const auto& r = s.symbols[static_cast<size_t>(right)];
  const uint32_t size = l.size + r.size;
  const auto id = normal_piece(vocab, text.substr(l.begin, size));
  if (!id) return;
  s.heap.push_back({vocab.score(*id), left, right, size});
  std::push_heap(s.heap.begin(), s.heap.end(), worse);
}

}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, std::vector<TokenId>& out, SpmScratch& s) {
  s.symbols.clear();
  s.heap.clear();
  for (size_t pos = 0; pos < text.size();) {
    // One symbol per character. llama.cpp trusts the lead byte's length even when the sequence is
    // ill-formed (swallowing the next, escaped-space bytes); an ill-formed byte is a symbol of its own
    // here, so any input round-trips. Well-formed text splits identically.
    uint32_t cp = 0;
    const auto lead = static_cast<uint8_t>(text[pos]);
    size_t n = lead < 0x80 ? 1 : utf8_decode(text, pos, &cp);
    if (n == 0) n = 1;
    const auto index = static_cast<int32_t>(s.symbols.size());
    s.symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(n), index - 1, index + 1});
    pos += n;
  }
  if (s.symbols.empty()) return;
  s.symbols.back().next = -1;
  for (int32_t i = 1; i < static_cast<int32_t>(s.symbols.size()); ++i) push_candidate(vocab, text, s, i - 1, i);

  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), worse);
    const SpmScratch::Candidate c = s.heap.back();
    s.heap.pop_back();
    auto& l = s.symbols[static_cast<size_t>(c.left)];
    auto& r = s.symbols[static_cast<size_t>(c.right)];
    // Sizes only grow, so unchanged sides are exactly the ones whose sizes still add up.
    if (l.size == 0 || r.size == 0 || l.size + r.size != c.size) continue;
    l.size += r.size;
    r.size = 0;
    l.next = r.next;
    if (r.next >= 0) s.symbols[static_cast<size_t>(r.next)].prev = c.left;
    push_candidate(vocab, text, s, l.prev, c.left);
    push_candidate(vocab, text, s, c.left, l.next);
  }

  for (int32_t i = 0; i >= 0; i = s.symbols[static_cast<size_t>(i)].next) {
    const auto& sym = s.symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(sym.begin, sym.size);
    if (const auto id = normal_piece(vocab, piece)) {
      out.push_back(*id);
      continue;
    }
    for (const char ch : piece) {
      const TokenId bt = vocab.byte_token(static_cast<uint8_t>(ch));
      if (bt >= 0) {
        out.push_back(bt);
      } else if (vocab.unk_id()) {
        out.push_back(*vocab.unk_id());
      }
    }
  }
}

}  // namespace specula::tokenizer
