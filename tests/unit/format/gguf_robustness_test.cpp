// Malformed GGUF input: truncations, random corruption and hand-made absurd values must all give a
// one-line kCorruptData/kUnsupported error that names the problem, never a crash or a huge allocation.
#include <gtest/gtest.h>

#include <random>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "gguf_test_util.h"
#include "test_paths.h"

namespace specula::format {
namespace {

using testing::Bytes;

// A reader error must be of a content class and fit on one line.
void expect_content_error(const Result<GgufFile>& r, const std::string& what) {
  ASSERT_FALSE(r.ok()) << what << " parsed without error";
  const Error& e = r.error();
  EXPECT_TRUE(e.code() == ErrorCode::kCorruptData || e.code() == ErrorCode::kUnsupported)
      << what << ": " << error_code_name(e.code()) << " " << e.message();
  EXPECT_FALSE(e.message().empty());
  EXPECT_EQ(e.message().find_first_of("\n\r"), std::string::npos) << what << ": " << e.message();
}

// When corruption happens to leave a valid file, what it describes must still be inside the bytes.
void expect_consistent(const GgufFile& f, size_t size) {
  EXPECT_LE(f.data_offset(), size);
  for (const auto& t : f.tensors()) {
    const auto span = f.tensor_data(t);
    EXPECT_EQ(span.size(), t.n_bytes);
    EXPECT_LE(f.data_offset() + t.offset + t.n_bytes, size);
  }
}

std::vector<uint8_t> small_file() {
  GgufWriter w;
  EXPECT_TRUE(testing::add_sample_metadata(w));
  // The last tensor fills its aligned slot exactly, so the file ends where its data ends.
  EXPECT_TRUE(w.add_tensor_copy("a", GgmlType::kF16, {3}, std::vector<uint8_t>(6, 1)).ok());
  EXPECT_TRUE(w.add_tensor_copy("b", GgmlType::kQ8_0, {32}, std::vector<uint8_t>(34, 2)).ok());
  EXPECT_TRUE(w.add_tensor_copy("c", GgmlType::kF32, {8}, std::vector<uint8_t>(32, 3)).ok());
  return w.serialize();
}

std::vector<uint8_t> stories() {
  return testing::read_bytes(test::shared_dir() + "/assets/stories260K/stories260K.gguf");
}

TEST(GgufRobustness, EveryTruncationOfASmallFileFails) {
  const auto bytes = small_file();
  ASSERT_TRUE(GgufFile::parse(bytes, "small").ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    expect_content_error(GgufFile::parse(std::span(bytes).first(n), "small"), fmt::format("prefix {}", n));
  }
}

TEST(GgufRobustness, TruncationsOfStories260KFail) {
  const auto bytes = stories();
  ASSERT_EQ(bytes.size(), 1185376u);
  auto full = GgufFile::parse(bytes, "stories");
  ASSERT_TRUE(full.ok()) << full.error().message();
  uint64_t end = 0;  // where the last tensor's data ends; shorter prefixes must all fail
  for (const auto& t : full->tensors()) end = std::max(end, full->data_offset() + t.offset + t.n_bytes);
  ASSERT_LE(end, bytes.size());
  size_t checked = 0;
  for (size_t n = 0; n < end; n += (n < full->data_offset() + 64 ? 1 : 997)) {
    expect_content_error(GgufFile::parse(std::span(bytes).first(n), "stories"), fmt::format("prefix {}", n));
    ++checked;
  }
  expect_content_error(GgufFile::parse(std::span(bytes).first(end - 1), "stories"), "prefix end-1");
  EXPECT_GT(checked, 5000u);
}

// Flips random bits or sets random bytes, mostly in the header (where the structure is).
void corrupt_and_parse(const std::vector<uint8_t>& original, size_t header_size, uint32_t seed, int variants) {
  std::mt19937 rng(seed);
  for (int v = 0; v < variants; ++v) {
    std::vector<uint8_t> bytes = original;
    const int n_changes = 1 + static_cast<int>(rng() % 4);
    for (int c = 0; c < n_changes; ++c) {
      const size_t limit = rng() % 8 == 0 ? bytes.size() : header_size;
      const size_t pos = rng() % limit;
      if (rng() % 2 == 0) {
        bytes[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
      } else {
        bytes[pos] = static_cast<uint8_t>(rng());
      }
    }
    if (rng() % 5 == 0) bytes.resize(rng() % bytes.size());
    auto r = GgufFile::parse(bytes, "corrupt");
    if (r.ok()) {
      expect_consistent(*r, bytes.size());
    } else {
      expect_content_error(r, fmt::format("seed {} variant {}", seed, v));
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(GgufRobustness, RandomCorruptionNeverCrashes) {
  const auto small = small_file();
  auto parsed = GgufFile::parse(small, "small");
  ASSERT_TRUE(parsed.ok());
  corrupt_and_parse(small, parsed->data_offset(), 1, 3000);
  const auto big = stories();
  auto big_parsed = GgufFile::parse(big, "stories");
  ASSERT_TRUE(big_parsed.ok());
  corrupt_and_parse(big, big_parsed->data_offset(), 2, 1500);
}

struct Crafted {
  std::string name;
  std::vector<uint8_t> bytes;
  ErrorCode code;
  std::string fragment;  // must appear in the message
};

// A file with one metadata pair of the given type and raw payload.
std::vector<uint8_t> one_kv(uint32_t type, const Bytes& payload, std::string_view key = "k") {
  Bytes b;
  b.header(0, 1).str(key).u32(type);
  auto out = b.data();
  out.insert(out.end(), payload.data().begin(), payload.data().end());
  return out;
}

// A file with one tensor description (and `data_bytes` zero bytes of data after the aligned header).
std::vector<uint8_t> one_tensor(std::vector<int64_t> dims, uint32_t type, uint64_t offset, size_t data_bytes = 64) {
  Bytes b;
  b.header(1, 0).str("t").u32(static_cast<uint32_t>(dims.size()));
  for (const int64_t d : dims) b.i64(d);
  b.u32(type).u64(offset).pad_to(32).zeros(data_bytes);
  return b.data();
}

std::vector<Crafted> crafted_cases() {
  const auto kC = ErrorCode::kCorruptData;
  const auto kU = ErrorCode::kUnsupported;
  std::vector<Crafted> c;
  c.push_back({"empty", {}, kC, "truncated while reading magic"});
  c.push_back({"bad magic", Bytes().u32(0x46554746).u32(3).u64(0).u64(0).data(), kC, "bad magic"});
  c.push_back({"v1", Bytes().header(0, 0, 1).data(), kU, "GGUF v1"});
  c.push_back({"big-endian", Bytes().header(0, 0, 0x03000000).data(), kU, "big-endian"});
  c.push_back({"v7", Bytes().header(0, 0, 7).data(), kC, "version 7"});
  c.push_back({"tensor count", Bytes().header(uint64_t{1} << 63, 0).data(), kC, "tensor count"});
  c.push_back({"kv count", Bytes().header(0, ~uint64_t{0}).data(), kC, "metadata count"});
  c.push_back({"key length", Bytes().header(0, 1).u64(uint64_t{1} << 63).zeros(16).data(), kC, "metadata key length"});
  c.push_back({"string length", one_kv(8, Bytes().u64(~uint64_t{0} - 3).zeros(8)), kC, "string value length"});
  c.push_back({"array count", one_kv(9, Bytes().u32(0).u64(uint64_t{1} << 62).zeros(8)), kC, "array of"});
  c.push_back({"array of strings count", one_kv(9, Bytes().u32(8).u64(4).u64(0).u64(0)), kC, "array of 4"});
  c.push_back({"array elem type", one_kv(9, Bytes().u32(13).u64(1).zeros(8)), kC, "unknown array element type 13"});
  c.push_back({"value type", one_kv(99, Bytes().zeros(8)), kC, "unknown value type 99"});
  c.push_back({"bool 2", one_kv(7, Bytes().u8(2)), kC, "bool value 2"});
  Bytes deep;  // 10 nested arrays of one element each
  deep.header(0, 1).str("deep").u32(9);
  for (int i = 0; i < 9; ++i) deep.u32(9).u64(1);
  deep.u32(0).u64(1).u8(0);
  c.push_back({"array depth", deep.data(), kC, "nests arrays deeper than 8"});
  c.push_back({"item cap", one_kv(9, Bytes().u32(0).u64((uint64_t{1} << 22) + 1).zeros((size_t{1} << 22) + 8)), kC,
               "more than 4194304 array elements"});
  c.push_back({"duplicate key", Bytes().header(0, 2).str("k").u32(0).u8(1).str("k").u32(0).u8(2).data(), kC,
               "duplicate metadata key 'k'"});
  c.push_back({"newline key", one_kv(99, Bytes().zeros(8), "bad\nkey"), kC, "bad\\x0akey"});
  for (const uint32_t a : {0u, 3u, 1u << 20}) {
    c.push_back({fmt::format("alignment {}", a), one_kv(4, Bytes().u32(a), "general.alignment"), kC,
                 "general.alignment must be a u32 power of two"});
  }
  c.push_back({"alignment u64", one_kv(10, Bytes().u64(32), "general.alignment"), kC, "general.alignment"});
  c.push_back({"rank 5", one_tensor({1, 1, 1, 1, 1}, 0, 0), kC, "has 5 dimensions (max 4)"});
  c.push_back({"negative dim", one_tensor({4, -2}, 0, 0), kC, "negative dimension -2"});
  c.push_back({"dims overflow", one_tensor({int64_t{1} << 40, int64_t{1} << 40}, 0, 0), kC, "overflow"});
  c.push_back({"zero dim hides overflow", one_tensor({0, int64_t{1} << 62, int64_t{1} << 62}, 0, 0), kC, "overflow"});
  c.push_back({"ggml type", one_tensor({4}, 99, 0), kC, "unknown type id 99"});
  c.push_back({"ggml type 4 (removed q4_2)", one_tensor({4}, 4, 0), kC, "unknown type id 4"});
  c.push_back({"block multiple", one_tensor({33}, 2, 0), kC, "not a multiple of its block size 32"});
  c.push_back({"rank 0 quantized", one_tensor({}, 2, 0), kC, "block size"});
  c.push_back({"unaligned offset", one_tensor({4}, 0, 4), kC, "offset 4 is not a multiple of the alignment 32"});
  c.push_back({"offset past end", one_tensor({4}, 0, uint64_t{1} << 63), kC, "extends past the end"});
  c.push_back({"data past end", one_tensor({1024}, 0, 0), kC, "extends past the end"});
  c.push_back({"duplicate tensor", Bytes().header(2, 0).str("t").u32(1).i64(4).u32(0).u64(0)
                                        .str("t").u32(1).i64(4).u32(0).u64(32).pad_to(32).zeros(64).data(),
               kC, "duplicate tensor name 't'"});
  c.push_back({"tensor infos truncated", Bytes().header(1, 0).str("a_long_tensor_name").u32(2).i64(4).data(), kC,
               "truncated while reading tensor dimension"});
  return c;
}

TEST(GgufRobustness, HandMadeAbsurdValuesGiveNamedErrors) {
  for (const auto& c : crafted_cases()) {
    SCOPED_TRACE(c.name);
    auto r = GgufFile::parse(c.bytes, "crafted.gguf");
    expect_content_error(r, c.name);
    if (r.ok()) continue;
    EXPECT_EQ(r.error().code(), c.code) << r.error().message();
    EXPECT_NE(r.error().message().find(c.fragment), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().rfind("crafted.gguf: ", 0), 0u) << r.error().message();
  }
}

TEST(GgufRobustness, ValidCraftedFilesParse) {
  // Sanity check of the builders: the same shapes with valid values parse.
  EXPECT_TRUE(GgufFile::parse(one_tensor({4, 2}, 0, 0), "ok").ok());
  EXPECT_TRUE(GgufFile::parse(one_kv(4, Bytes().u32(64), "general.alignment"), "ok").ok());
  EXPECT_TRUE(GgufFile::parse(one_kv(9, Bytes().u32(8).u64(2).str("a").str("b")), "ok").ok());
  EXPECT_TRUE(GgufFile::parse(one_tensor({0, int64_t{1} << 20}, 0, 0), "ok").ok());  // an empty tensor
}

}  // namespace
}  // namespace specula::format
