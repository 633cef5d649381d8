#include "format/gguf_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "format/gguf_reader.h"
#include "gguf_test_util.h"
#include "test_paths.h"

namespace specula::format {
namespace {

using testing::metadata_json;
using testing::to_hex;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

struct SampleTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> dims;
};

// Several ggml types and ranks; byte sizes follow from the ggml block geometry (type, values per block,
// bytes per block): f32 1/4, f16 1/2, bf16 1/2, q8_0 32/34, q4_K 256/144, q6_K 256/210, i8 1/1, f64 1/8.
const std::vector<SampleTensor> kSampleTensors = {
    {"tok_embd.weight", GgmlType::kF32, {8, 3}},      {"blk.0.attn_norm.weight", GgmlType::kF16, {5}},
    {"blk.0.ffn_up.weight", GgmlType::kBF16, {6, 2, 2}}, {"blk.0.attn_q.weight", GgmlType::kQ8_0, {64, 3}},
    {"blk.0.ffn_down.weight", GgmlType::kQ4_K, {256, 2}}, {"output.weight", GgmlType::kQ6_K, {512, 1, 1, 1}},
    {"idx", GgmlType::kI8, {3, 1, 1, 5}},             {"scale", GgmlType::kF64, {1}},
};
const std::vector<size_t> kSampleBytes = {8 * 3 * 4, 5 * 2, 6 * 2 * 2 * 2, 2 * 3 * 34, 2 * 144, 2 * 210, 15, 8};

TEST(GgufWriter, RoundTripsEveryValueTypeAndTensorsAtSeveralAlignments) {
  for (const uint32_t alignment : {1u, 8u, 32u, 64u, 4096u}) {
    SCOPED_TRACE(alignment);
    GgufWriter w;
    ASSERT_TRUE(testing::add_sample_metadata(w));
    if (alignment != 32) {
      ASSERT_TRUE(w.set_alignment(alignment).ok());
    }
    std::vector<std::vector<uint8_t>> payloads;  // borrowed by the writer
    for (size_t i = 0; i < kSampleTensors.size(); ++i) payloads.push_back(random_bytes(kSampleBytes[i], 100 + i));
    for (size_t i = 0; i < kSampleTensors.size(); ++i) {
      const auto& t = kSampleTensors[i];
      const Status st = i % 2 == 0 ? w.add_tensor(t.name, t.type, t.dims, payloads[i])
                                   : w.add_tensor_copy(t.name, t.type, t.dims, payloads[i]);
      ASSERT_TRUE(st.ok()) << st.error().message();
    }
    const std::vector<uint8_t> bytes = w.serialize();
    auto parsed = GgufFile::parse(bytes, "mem");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    const GgufFile& f = parsed.value();
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    EXPECT_EQ(metadata_json(f.metadata()), metadata_json(w.metadata()));
    // Metadata keeps insertion order.
    ASSERT_EQ(f.metadata().size(), w.metadata().size());
    for (size_t i = 0; i < f.metadata().size(); ++i) EXPECT_EQ(f.metadata()[i].first, w.metadata()[i].first);
    ASSERT_EQ(f.tensors().size(), kSampleTensors.size());
    uint64_t expect_offset = 0;
    for (size_t i = 0; i < kSampleTensors.size(); ++i) {
      const auto& t = f.tensors()[i];
      EXPECT_EQ(t.name, kSampleTensors[i].name);
      EXPECT_EQ(t.type, kSampleTensors[i].type);
      EXPECT_EQ(t.dims, kSampleTensors[i].dims);
      EXPECT_EQ(t.offset, expect_offset);  // packed in order, each at the next aligned offset
      EXPECT_EQ(to_hex(f.tensor_data(t)), to_hex(payloads[i]));
      expect_offset = (expect_offset + kSampleBytes[i] + alignment - 1) / alignment * alignment;
    }
    EXPECT_EQ(bytes.size(), f.data_offset() + expect_offset);
  }
}

TEST(GgufWriter, WritesAtomicallyToDisk) {
  const std::string dir = test::temp_dir();
  const std::string path = dir + "/model.gguf";
  GgufWriter w;
  ASSERT_TRUE(testing::add_sample_metadata(w));
  ASSERT_TRUE(w.add_tensor_copy("w", GgmlType::kF32, {4}, random_bytes(16, 1)).ok());
  ASSERT_TRUE(w.write(path).ok());
  GgufWriter w2;  // overwrite with a different file
  ASSERT_TRUE(w2.set_u32("x", 1).ok());
  const Status st = w2.write(path);
  ASSERT_TRUE(st.ok()) << st.error().message();
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->metadata().size(), 1u);
  EXPECT_EQ(f->tensors().size(), 0u);
  EXPECT_EQ(testing::read_bytes(path), w2.serialize());
  size_t n_files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n_files;
  EXPECT_EQ(n_files, 1u);  // no temp file left behind

  const Status bad = w2.write(dir + "/no/such/dir/x.gguf");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kIo);
  EXPECT_NE(bad.error().message().find("no/such/dir"), std::string::npos);
}

void expect_invalid(const Status& st, const std::string& fragment) {
  ASSERT_FALSE(st.ok()) << "expected an error containing: " << fragment;
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message().find(fragment), std::string::npos) << st.error().message();
  EXPECT_EQ(st.error().message().find('\n'), std::string::npos);
}

TEST(GgufWriter, RejectsBadMetadata) {
  using V = GgufValue;
  GgufWriter w;
  ASSERT_TRUE(w.set_u32("a", 1).ok());
  expect_invalid(w.set_u8("a", 1), "duplicate metadata key 'a'");
  expect_invalid(w.set_u8("", 1), "empty");
  expect_invalid(w.set("big", V{GgufType::kUint8, uint64_t{300}}), "300 does not fit in u8");
  expect_invalid(w.set("neg", V{GgufType::kUint32, int64_t{-1}}), "-1 does not fit in u32");
  expect_invalid(w.set("i8", V{GgufType::kInt8, int64_t{-129}}), "-129 does not fit in i8");
  expect_invalid(w.set("i64", V{GgufType::kInt64, uint64_t{1} << 63}), "does not fit in i64");
  expect_invalid(w.set("f", V{GgufType::kFloat32, std::string("x")}), "does not hold a float");
  expect_invalid(w.set("s", V{GgufType::kString, true}), "does not hold a string");
  expect_invalid(w.set("t", V{static_cast<GgufType>(13), uint64_t{0}}), "unknown value type 13");
  expect_invalid(w.set("mixed", V::array(GgufType::kUint8, {V::u8(1), V::u16(2)})), "item 1 is u16 in an array of u8");
  expect_invalid(w.set("badarr", V{GgufType::kArray, uint64_t{1}}), "does not hold an array");
  V deep = V::array_of(std::vector<int32_t>{1});
  for (int i = 1; i < kGgufMaxArrayDepth; ++i) deep = V::array(GgufType::kArray, {deep});
  ASSERT_TRUE(w.set("deep8", deep).ok());  // the deepest nesting the reader accepts
  expect_invalid(w.set("deep9", V::array(GgufType::kArray, {deep})), "nested deeper than 8");
  for (const uint32_t a : {0u, 3u, 48u, 131072u}) expect_invalid(w.set_alignment(a), "general.alignment");
  expect_invalid(w.set_u64("general.alignment", 64), "general.alignment must be a u32");
  EXPECT_EQ(w.alignment(), 32u);
  EXPECT_EQ(w.metadata().size(), 2u);  // failed calls changed nothing
  EXPECT_TRUE(GgufFile::parse(w.serialize(), "mem").ok());
}

TEST(GgufWriter, AlignmentKeyCanBeReplaced) {
  GgufWriter w;
  ASSERT_TRUE(w.set_alignment(64).ok());
  EXPECT_EQ(w.alignment(), 64u);
  EXPECT_TRUE(w.erase("general.alignment"));
  EXPECT_FALSE(w.erase("general.alignment"));
  EXPECT_EQ(w.alignment(), 32u);
  ASSERT_TRUE(w.set_u32("general.alignment", 128).ok());
  ASSERT_TRUE(w.add_tensor_copy("t", GgmlType::kF32, {1}, std::vector<uint8_t>(4, 0)).ok());
  const auto bytes = w.serialize();
  EXPECT_EQ(bytes.size() % 128, 0u);
  auto f = GgufFile::parse(bytes, "mem");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->alignment(), 128u);
  EXPECT_EQ(f->data_offset() % 128, 0u);
}

TEST(GgufWriter, RejectsBadTensors) {
  GgufWriter w;
  const std::vector<uint8_t> b16(16);
  ASSERT_TRUE(w.add_tensor("t", GgmlType::kF32, {4}, b16).ok());
  expect_invalid(w.add_tensor("t", GgmlType::kF32, {4}, b16), "duplicate tensor name 't'");
  expect_invalid(w.add_tensor("", GgmlType::kF32, {4}, b16), "tensor name is empty");
  expect_invalid(w.add_tensor(std::string(64, 'n'), GgmlType::kF32, {4}, b16), "longer than 63 bytes");
  expect_invalid(w.add_tensor("u", GgmlType::kF32, {5}, b16), "needs 20 bytes, got 16");
  expect_invalid(w.add_tensor("u", GgmlType::kF16, {2, 2}, b16), "needs 8 bytes, got 16");
  expect_invalid(w.add_tensor("u", GgmlType::kQ8_0, {16}, b16), "not a multiple of the block size 32");
  expect_invalid(w.add_tensor("u", GgmlType::kF32, {}, b16), "0 dimensions");
  expect_invalid(w.add_tensor("u", GgmlType::kF32, {1, 1, 1, 1, 4}, b16), "5 dimensions");
  expect_invalid(w.add_tensor("u", GgmlType::kF32, {4, 0}, b16), "dimension 0");
  expect_invalid(w.add_tensor("u", GgmlType::kF32, {-4}, b16), "dimension -4");
  expect_invalid(w.add_tensor("u", GgmlType::kF32, {1 << 30, 1 << 30, 1 << 30}, b16), "more than 2^50 elements");
  expect_invalid(w.add_tensor("u", static_cast<GgmlType>(4), {4}, b16), "unknown type id 4");
  EXPECT_EQ(w.n_tensors(), 1u);
  ASSERT_TRUE(w.add_tensor("u", GgmlType::kQ8_0, {32, 2}, std::vector<uint8_t>(68)).ok());
  EXPECT_EQ(w.n_tensors(), 2u);
}

}  // namespace
}  // namespace specula::format
