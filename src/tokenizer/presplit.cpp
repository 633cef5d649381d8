#include "tokenizer/presplit.h"

#include <algorithm>
#include <string>

namespace specula::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581

// HTML tags among Gemma's user-defined symbols (each as <name> and </name>).
constexpr std::array<std::string_view, 35> kHtmlTags = {
    "table", "caption", "thead", "tbody", "tfoot", "tr",   "th",  "td",   "h1",    "h2",     "h3",     "h4",
    "h5",    "h6",      "blockquote", "strong", "em", "b", "i",   "u",    "s",     "sub",    "sup",    "code",
    "a",     "html",    "body",  "img",  "span", "bbox", "ul", "li",   "div",   "iframe", "footer"};

bool all_same(std::string_view s, std::string_view unit) {
  if (s.empty() || s.size() % unit.size() != 0) return false;
  for (size_t i = 0; i < s.size(); i += unit.size()) {
    if (s.substr(i, unit.size()) != unit) return false;
  }
  return true;
}

bool is_unused_name(std::string_view s) {
  constexpr std::string_view kPrefix = "<unused";
  if (s.size() <= kPrefix.size() + 1 || !s.starts_with(kPrefix) || s.back() != '>') return false;
  const std::string_view digits = s.substr(kPrefix.size(), s.size() - kPrefix.size() - 1);
  return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

void PresplitMatcher::add(const Vocab& vocab, TokenId id) {
  const std::string_view p = vocab.piece(id);
  by_first_byte_[static_cast<uint8_t>(p[0])].emplace_back(p, id);
  ++n_pieces_;
}

PresplitMatcher PresplitMatcher::for_gemma(const Vocab& vocab) {
  PresplitMatcher m;
  for (TokenId id = 0; id < vocab.n_tokens(); ++id) {
    if (vocab.type(id) != TokenType::kNormal) continue;
    const std::string_view p = vocab.piece(id);
    const bool run = all_same(p, "\n") || all_same(p, "\t") || (p.size() >= 2 * kSpace.size() && all_same(p, kSpace));
    if (run || is_unused_name(p) || p == "[multimodal]") m.add(vocab, id);
  }
  for (const std::string_view tag : kHtmlTags) {
    for (const std::string_view open : {std::string_view("<"), std::string_view("</")}) {
      std::string text(open);
      text.append(tag);
      text.push_back('>');
      const auto id = vocab.find(text);
      if (id && vocab.type(*id) == TokenType::kNormal) m.add(vocab, *id);
    }
  }
  for (auto& list : m.by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
  return m;
}

std::optional<PresplitMatcher::Match> PresplitMatcher::next(std::string_view text, size_t pos) const {
  for (; pos < text.size(); ++pos) {
    const auto& list = by_first_byte_[static_cast<uint8_t>(text[pos])];
    for (const auto& [piece, id] : list) {
      if (text.substr(pos, piece.size()) == piece) return Match{pos, piece.size(), id};
    }
  }
  return std::nullopt;
}

}  // namespace specula::tokenizer
