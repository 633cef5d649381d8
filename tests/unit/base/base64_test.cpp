// base64_decode against the RFC 4648 §10 test vectors, padded and unpadded, and the inputs a strict decoder
// must refuse; round trips through base64_encode over every length and byte value.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "base/base64.h"

namespace specula {
namespace {

std::string decoded(std::string_view text) {
  auto r = base64_decode(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::string(r.value().begin(), r.value().end()) : std::string("<error>");
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(decoded(encoded), plain);
    std::string unpadded(encoded);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    EXPECT_EQ(decoded(unpadded), plain);
    EXPECT_EQ(base64_encode(std::vector<uint8_t>(plain, plain + std::string(plain).size())), encoded);
  }
}

TEST(Base64, AllByteValues) {
  // "+/" only come from the top of the alphabet: 0xfb 0xff 0xbf encodes to "+/+/".
  const auto r = base64_decode("+/+/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), (std::vector<uint8_t>{0xfb, 0xff, 0xbf}));
}

TEST(Base64, RoundTripsRandomBytes) {
  std::mt19937 rng(3);
  for (size_t len = 0; len < 70; ++len) {
    std::vector<uint8_t> bytes(len);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    const auto r = base64_decode(base64_encode(bytes));
    ASSERT_TRUE(r.ok()) << len;
    EXPECT_EQ(r.value(), bytes);
  }
}

TEST(Base64, RefusesMalformedInput) {
  const char* kBad[] = {
      "Z",          // 4k+1 characters
      "Zg=",        // padding that does not complete a group
      "Zg===",      // too much padding
      "=",  "==",   // padding only
      "Zm9v!",      // not in the alphabet
      "Zm 9v",      // whitespace
      "Zm9v\n",     // a trailing newline
      "Zm-_",       // the URL-safe alphabet
      "Zg==Zg==",   // '=' inside the data
      "Zh==",       // non-zero bits after the last byte
      "Zm9=",       // idem, one pad
      "\xff\xfe",   // not ASCII
  };
  for (const char* text : kBad) {
    const auto r = base64_decode(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kCorruptData);
    EXPECT_NE(r.error().message().find("invalid base64"), std::string::npos) << r.error().message();
  }
  const auto r = base64_decode("Zm9v Zm9v");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("offset 4"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace specula
