#include "tokenizer/utf8.h"

namespace specula::tokenizer {
namespace {

// Valid range of the second byte for a given lead byte (Unicode Table 3-7); later bytes are 80..BF.
struct SecondByteRange {
  uint8_t lo;
  uint8_t hi;
};

// Returns the expected length for a valid lead byte (0 for bytes that never start a sequence) and the
// allowed range of the second byte.
size_t lead_info(uint8_t b, SecondByteRange* second) {
  *second = {0x80, 0xBF};
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) {
    if (b == 0xE0) *second = {0xA0, 0xBF};
    if (b == 0xED) *second = {0x80, 0x9F};
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (b == 0xF0) *second = {0x90, 0xBF};
    if (b == 0xF4) *second = {0x80, 0x8F};
    return 4;
  }
  return 0;
}

// Length of the longest prefix of a (possibly truncated) sequence at pos that is still valid, and whether
// the sequence is complete. Used both for decoding and for maximal-subpart replacement.
size_t valid_prefix(std::string_view text, size_t pos, bool* complete) {
  SecondByteRange second;
  const auto lead = static_cast<uint8_t>(text[pos]);
  const size_t need = lead_info(lead, &second);
  *complete = false;
  if (need == 0) return 0;
  size_t n = 1;
  while (n < need && pos + n < text.size()) {
    const auto c = static_cast<uint8_t>(text[pos + n]);
    const uint8_t lo = n == 1 ? second.lo : 0x80;
    const uint8_t hi = n == 1 ? second.hi : 0xBF;
    if (c < lo || c > hi) return n;
    ++n;
  }
  *complete = n == need;
  return n;
}

}  // namespace

size_t utf8_decode(std::string_view text, size_t pos, uint32_t* cp) {
  if (pos >= text.size()) return 0;
  bool complete = false;
  const size_t n = valid_prefix(text, pos, &complete);
  if (!complete) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(text.data() + pos);
  switch (n) {
    case 1: *cp = p[0]; break;
    case 2: *cp = (uint32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F); break;
    case 3: *cp = (uint32_t(p[0] & 0x0F) << 12) | (uint32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F); break;
    default:
      *cp = (uint32_t(p[0] & 0x07) << 18) | (uint32_t(p[1] & 0x3F) << 12) | (uint32_t(p[2] & 0x3F) << 6) |
            (p[3] & 0x3F);
      break;
  }
  return n;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool utf8_is_valid(std::string_view text) {
  size_t pos = 0;
  uint32_t cp = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t n = utf8_decode(text, pos, &cp);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

size_t utf8_incomplete_tail(std::string_view text) {
  // A sequence is at most 4 bytes, so only the last 3 bytes can be an unfinished prefix.
  const size_t first = text.size() > 3 ? text.size() - 3 : 0;
  for (size_t pos = first; pos < text.size(); ++pos) {
    bool complete = false;
    const size_t n = valid_prefix(text, pos, &complete);
    if (!complete && n > 0 && pos + n == text.size()) return n;
  }
  return 0;
}

std::string utf8_sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    bool complete = false;
    const size_t n = valid_prefix(text, pos, &complete);
    if (complete) {
      out.append(text.data() + pos, n);
      pos += n;
    } else {
      out += "\xEF\xBF\xBD";
      pos += n == 0 ? 1 : n;
    }
  }
  return out;
}

}  // namespace specula::tokenizer
