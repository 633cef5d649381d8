#include "base/base64.h"

#include <algorithm>
#include <array>
#include <string>

namespace specula {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// 0..63 for alphabet characters, -1 otherwise.
constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kTable = make_table();

}  // namespace

Result<std::vector<uint8_t>> base64_decode(std::string_view text) {
  size_t n = text.size();
  size_t pad = 0;
  while (pad < 2 && n > 0 && text[n - 1] == '=') {
    --n;
    ++pad;
  }
  if (pad > 0 && text.size() % 4 != 0) {
    return make_error(ErrorCode::kCorruptData, "invalid base64: the '=' padding does not complete a group of 4");
  }
  std::vector<uint8_t> out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    const int8_t v = kTable[static_cast<uint8_t>(text[i])];
    if (v < 0) {
      const char c = text[i];
      if (c == '=') return make_error(ErrorCode::kCorruptData, "invalid base64: '=' inside the data at offset {}", i);
      return make_error(ErrorCode::kCorruptData, "invalid base64: character {} at offset {}",
                        c >= 0x21 && c < 0x7f ? fmt::format("'{}'", c) : fmt::format("0x{:02x}", static_cast<uint8_t>(c)),
                        i);
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (n % 4 == 1) {
    return make_error(ErrorCode::kCorruptData, "invalid base64: {} characters cannot encode whole bytes", n);
  }
  if (acc != 0) return make_error(ErrorCode::kCorruptData, "invalid base64: non-zero bits after the last byte");
  return out;
}

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (n > 1) v |= uint32_t{bytes[i + 1]} << 8;
    if (n > 2) v |= bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += n > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += n > 2 ? kAlphabet[v & 63] : '=';
  }
  return out;
}

}  // namespace specula
