// Text helpers for the chat renderer (see chat_text.h).
#include "tokenizer/chat_text.h"

#include <cstdint>

namespace specula::tokenizer {
namespace {

// Decodes one UTF-8 code point at text[i]; returns its length in bytes, or 0 if malformed.
std::size_t decode_utf8(std::string_view text, std::size_t i, char32_t* out) {
  const auto byte = [&](std::size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(i);
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    *out = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  *out = cp;
  return len;
}

bool is_python_space(char32_t c) {
  if (c == 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return true;
  if (c < 0x80) return false;
  if (c == 0x85 || c == 0xa0 || c == 0x1680) return true;
  if (c >= 0x2000 && c <= 0x200a) return true;
  return c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Start of the code point that ends just before `end` (walks back over continuation bytes).
std::size_t previous_code_point(std::string_view text, std::size_t end) {
  std::size_t i = end - 1;
  while (i > 0 && end - i < 4 && (static_cast<uint8_t>(text[i]) & 0xc0) == 0x80) --i;
  return i;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t len = decode_utf8(text, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string_view trim_python_whitespace(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size()) {
    char32_t cp = 0;
    const std::size_t len = decode_utf8(text, begin, &cp);
    if (len == 0 || !is_python_space(cp)) break;
    begin += len;
  }
  std::size_t end = text.size();
  while (end > begin) {
    const std::size_t start = previous_code_point(text, end);
    char32_t cp = 0;
    const std::size_t len = decode_utf8(text, start, &cp);
    if (len != end - start || !is_python_space(cp)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

std::string strip_thinking(std::string_view text) {
  static constexpr std::string_view kOpen = "<|channel>";
  static constexpr std::string_view kClose = "<channel|>";
  std::string kept;
  kept.reserve(text.size());
  std::size_t pos = 0;
  while (true) {
    const std::size_t close = text.find(kClose, pos);
    const std::string_view piece = text.substr(pos, close == std::string_view::npos ? text.npos : close - pos);
    kept.append(piece.substr(0, piece.find(kOpen)));  // npos keeps the whole piece
    if (close == std::string_view::npos) break;
    pos = close + kClose.size();
  }
  return std::string(trim_python_whitespace(kept));
}

}  // namespace specula::tokenizer
