// Text helpers the chat renderer needs to match the official Jinja templates byte for byte.
#pragma once

#include <string>
#include <string_view>

namespace specula::tokenizer {

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// Jinja's `trim` filter, i.e. Python's str.strip() with no arguments: removes leading and trailing code
// points for which Python's str.isspace() is true (ASCII \t\n\v\f\r, \x1c-\x1f and space, plus U+0085,
// U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). U+200B is not whitespace.
// `text` must be valid UTF-8; the result is a view into it.
std::string_view trim_python_whitespace(std::string_view text);

// The templates' `strip_thinking` macro for model turns: split on "<channel|>"; from each piece that
// contains "<|channel>" keep only the text before its first "<|channel>"; join; then trim as above.
// An unclosed "<|channel>" therefore drops the rest of the text, a stray "<channel|>" is removed.
std::string strip_thinking(std::string_view text);

}  // namespace specula::tokenizer
