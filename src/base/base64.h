// Strict base64 decoding (RFC 4648 §4, the standard alphabet), for image payloads of HTTP requests.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace specula {

// Decodes `text`. Accepted: the standard alphabet (A-Z a-z 0-9 + /), with the '=' padding to a multiple of 4
// characters or without any padding. Refused (kCorruptData, naming the offset of the first bad character):
// any other character (whitespace, the URL-safe '-' and '_' included), '=' anywhere but at the end, a length
// that cannot come from an encoder (4k+1 characters, or padding that does not complete a group), and non-zero
// bits after the last whole byte (a non-canonical encoding). Empty input decodes to no bytes.
Result<std::vector<uint8_t>> base64_decode(std::string_view text);

// Standard base64 with padding (tests and small payloads).
std::string base64_encode(const std::vector<uint8_t>& bytes);

}  // namespace specula
