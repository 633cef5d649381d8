// Code point classes used by the GPT-2-style pre-tokenizer regexes: \p{L} (letters), \p{N} (numbers) and \s
// (the Unicode White_Space property). Tables are generated from the Unicode database (bpe_gpt2_unicode.cpp).
#pragma once

#include <cstdint>

namespace specula::tokenizer {

enum class CodepointClass : uint8_t {
  kLetter,      // general category L*
  kNumber,      // general category N*
  kWhitespace,  // White_Space
  kOther,       // everything else (punctuation, symbols, marks, controls that are not White_Space, unassigned)
};

CodepointClass classify_codepoint(uint32_t cp);
bool is_unicode_whitespace(uint32_t cp);

}  // namespace specula::tokenizer
