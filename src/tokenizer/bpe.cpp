#include "tokenizer/bpe.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace specula::tokenizer {
namespace {

uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

size_t slot_of(uint64_t key, uint64_t mask) {
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

// Heap order: the lowest rank on top, then the leftmost pair.
bool worse(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}

}  // namespace

Result<BpeModel> BpeModel::build(const Vocab& vocab) {
  BpeModel m;
  const auto& merges = vocab.merges();
  size_t capacity = 16;
  while (capacity < merges.size() * 2) capacity *= 2;
  m.table_.assign(capacity, Entry{kEmpty, 0, 0});
  m.mask_ = capacity - 1;
  if (merges.size() > static_cast<size_t>(INT32_MAX)) {
    return make_error(ErrorCode::kOutOfRange, "tokenizer has {} merges (at most 2^31-1)", merges.size());
  }
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string_view merge = merges[rank];
    // Split at the first space after the first byte, as llama.cpp does (a piece never holds a space).
    const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string_view::npos;
    if (space == std::string_view::npos || space + 1 >= merge.size()) {
      return make_error(ErrorCode::kCorruptData, "merge {} ('{}') is not of the form 'left right'", rank, merge);
    }
    const std::string_view left = merge.substr(0, space);
    const std::string_view right = merge.substr(space + 1);
    joined.assign(left);
    joined.append(right);
    const auto l = vocab.find(left);
    const auto r = vocab.find(right);
    const auto j = vocab.find(joined);
    if (!l || !r || !j) {
      return make_error(ErrorCode::kCorruptData, "merge {} ('{}') names a piece that is not in the vocabulary ('{}')",
                        rank, merge, !l ? left : (!r ? right : std::string_view(joined)));
    }
    if (m.insert(*l, *r, static_cast<int32_t>(rank), *j)) ++m.n_merges_;  // duplicates keep the first rank
  }
  for (int c = 0; c < 128; ++c) {
    const char ch = static_cast<char>(c);
    const auto id = vocab.find(std::string_view(&ch, 1));
    m.ascii_[c] = id ? *id : -1;
  }
  return m;
}

bool BpeModel::insert(TokenId left, TokenId right, int32_t rank, TokenId merged) {
  const uint64_t key = pair_key(left, right);
  for (size_t i = slot_of(key, mask_);; i = (i + 1) & mask_) {
    if (table_[i].key == key) return false;
    if (table_[i].key == kEmpty) {
      table_[i] = Entry{key, rank, merged};
      return true;
    }
  }
}

const BpeModel::Entry* BpeModel::lookup(TokenId left, TokenId right) const {
  const uint64_t key = pair_key(left, right);
  for (size_t i = slot_of(key, mask_);; i = (i + 1) & mask_) {
    if (table_[i].key == key) return &table_[i];
    if (table_[i].key == kEmpty) return nullptr;
  }
}

TokenId BpeModel::char_token(const Vocab& vocab, std::string_view ch, uint32_t first_byte) const {
  if (first_byte < 128) return ascii_[first_byte];
  const auto id = vocab.find(ch);
  return id ? *id : -1;
}

BpeScratch::Memo BpeModel::lookup_memo(TokenId left, TokenId right, BpeScratch& s) const {
  const uint64_t key = pair_key(left, right);
  auto& slot = s.memo[static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - BpeScratch::kMemoBits))];
  if (slot.key != key) {
    const Entry* e = lookup(left, right);
    slot = {key, e ? e->rank : -1, e ? e->merged : -1};
  }
  return slot;
}

void BpeModel::push_candidate(BpeScratch& s, int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return;
  const auto& l = s.symbols[static_cast<size_t>(left)];
  const auto& r = s.symbols[static_cast<size_t>(right)];
  if (l.id < 0 || r.id < 0) return;
  const BpeScratch::Memo m = lookup_memo(l.id, r.id, s);
  if (m.rank < 0) return;
  s.heap.push_back({m.rank, left, right, l.id, r.id, m.merged});
  std::push_heap(s.heap.begin(), s.heap.end(), worse);
}

void BpeModel::encode(const Vocab& vocab, std::string_view word, std::vector<TokenId>& out,
                      BpeScratch& s) const {
  s.symbols.clear();
  s.heap.clear();
  if (s.memo.empty()) s.memo.resize(size_t{1} << BpeScratch::kMemoBits);
  uint32_t cp = 0;
  for (size_t pos = 0; pos < word.size();) {
    const auto b = static_cast<uint8_t>(word[pos]);
    size_t n = b < 0x80 ? 1 : utf8_decode(word, pos, &cp);
    const bool valid = n != 0;
    if (!valid) n = 1;  // an ill-formed byte is a symbol of its own and falls back to its byte token
    const TokenId id = valid ? char_token(vocab, word.substr(pos, n), b) : -1;
    const auto index = static_cast<int32_t>(s.symbols.size());
    s.symbols.push_back({id, static_cast<uint32_t>(pos), static_cast<uint32_t>(n), index - 1, index + 1});
    pos += n;
  }
  if (s.symbols.empty()) return;
  s.symbols.back().next = -1;
  for (int32_t i = 1; i < static_cast<int32_t>(s.symbols.size()); ++i) push_candidate(s, i - 1, i);

  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), worse);
    const BpeScratch::Candidate c = s.heap.back();
    s.heap.pop_back();
    auto& l = s.symbols[static_cast<size_t>(c.left)];
    auto& r = s.symbols[static_cast<size_t>(c.right)];
    // Stale when either side has merged since the pair was queued (ids change on every merge).
    if (l.size == 0 || r.size == 0 || l.id != c.left_id || r.id != c.right_id || l.next != c.right) continue;
    l.id = c.merged_id;
    l.size += r.size;
    r.size = 0;
    l.next = r.next;
    if (r.next >= 0) s.symbols[static_cast<size_t>(r.next)].prev = c.left;
    push_candidate(s, l.prev, c.left);
    push_candidate(s, c.left, l.next);
  }

  for (int32_t i = 0; i >= 0; i = s.symbols[static_cast<size_t>(i)].next) {
    const auto& sym = s.symbols[static_cast<size_t>(i)];
    if (sym.id >= 0) {
      out.push_back(sym.id);
      continue;
    }
    for (uint32_t k = 0; k < sym.size; ++k) {
      const TokenId bt = vocab.byte_token(static_cast<uint8_t>(word[sym.begin + k]));
      if (bt >= 0) {
        out.push_back(bt);
      } else if (vocab.unk_id()) {
        out.push_back(*vocab.unk_id());
      }
    }
  }
}

}  // namespace specula::tokenizer

