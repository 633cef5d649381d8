// UTF-8 helpers for the tokenizers and the streaming detokenizer. All functions accept arbitrary bytes:
// malformed input is reported, never trusted (no read past the end of a span).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace specula::tokenizer {

// Sequence length announced by a lead byte, as llama.cpp's tokenizers split text: 1 for ASCII and for
// stray continuation bytes (0x80-0xBF), 2/3/4 for 0xC0-0xDF/0xE0-0xEF/0xF0-0xFF.
inline size_t utf8_len_from_lead(uint8_t lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// Decodes one well-formed code point at text[pos] (shortest form, no surrogates, <= U+10FFFF).
// Returns the number of bytes consumed and stores the code point, or returns 0 when the bytes at pos
// do not start a well-formed sequence (then *cp is untouched).
size_t utf8_decode(std::string_view text, size_t pos, uint32_t* cp);

// Appends the UTF-8 encoding of a code point (which must be a valid scalar value).
void utf8_append(std::string& out, uint32_t cp);

// True when the whole string is well-formed UTF-8.
bool utf8_is_valid(std::string_view text);

// Number of bytes at the end of `text` that form the beginning of a well-formed sequence that is not yet
// complete (0 when the text ends on a sequence boundary or with bytes that can never become valid).
// The streaming detokenizer holds these bytes back until the next piece completes them.
size_t utf8_incomplete_tail(std::string_view text);

// Copies text, replacing every maximal ill-formed subsequence with U+FFFD (the Unicode "substitution
// of maximal subparts" practice), so the result is always well-formed.
std::string utf8_sanitize(std::string_view text);

}  // namespace specula::tokenizer
