// Cross-checks against the reference Python `gguf` package: files it writes must read back with identical
// values here, and files written here must read identically with gguf.GGUFReader.
#include <gtest/gtest.h>

#include <random>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "gguf_test_util.h"
#include "test_paths.h"

namespace specula::format {
namespace {

using nlohmann::json;

TEST(GgufPython, ReadsFilesWrittenByGgufWriter) {
  const std::string dir = test::temp_dir();
  ASSERT_EQ(testing::run_python("gguf_reference_write.py", "'" + dir + "'"), 0);
  for (const int alignment : {32, 64, 256}) {
    SCOPED_TRACE(alignment);
    const json want = json::parse(testing::read_text(fmt::format("{}/ref-{}.json", dir, alignment)));
    auto f = GgufFile::open(fmt::format("{}/ref-{}.gguf", dir, alignment));
    ASSERT_TRUE(f.ok()) << f.error().message();
    EXPECT_EQ(f->alignment(), static_cast<uint64_t>(alignment));
    const json got = testing::metadata_json(f->metadata());
    ASSERT_EQ(got.size(), want["metadata"].size());
    for (const auto& [key, value] : want["metadata"].items()) {
      ASSERT_TRUE(got.contains(key)) << key;
      EXPECT_EQ(got[key], value) << key << ": got " << got[key].dump() << ", want " << value.dump();
    }
    json tensors = testing::tensors_json(*f);
    ASSERT_EQ(tensors.size(), want["tensors"].size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      EXPECT_EQ(tensors[i]["offset"].get<uint64_t>() % alignment, 0u);
      tensors[i].erase("offset");
      EXPECT_EQ(tensors[i], want["tensors"][i]) << tensors[i].dump();
    }
  }
}

TEST(GgufPython, GgufReaderReadsOurFiles) {
  const std::string dir = test::temp_dir();
  for (const uint32_t alignment : {32u, 16u, 128u}) {
    SCOPED_TRACE(alignment);
    GgufWriter w;
    ASSERT_TRUE(testing::add_sample_metadata(w));
    if (alignment != 32) {
      ASSERT_TRUE(w.set_alignment(alignment).ok());
    }
    // (name, type, ne, bytes): f32, f16, bf16, q8_0 (2 rows of 32), q4_K (1 row of 256), i32.
    struct T {
      const char* name;
      GgmlType type;
      std::vector<int64_t> ne;
      size_t n_bytes;
    };
    const std::vector<T> tensors = {{"a.f32", GgmlType::kF32, {3, 2}, 24},   {"b.f16", GgmlType::kF16, {5}, 10},
                                    {"c.bf16", GgmlType::kBF16, {2, 2, 2}, 16}, {"d.q8_0", GgmlType::kQ8_0, {32, 2}, 68},
                                    {"e.q4_k", GgmlType::kQ4_K, {256}, 144},   {"f.i32", GgmlType::kI32, {1, 1, 3}, 12}};
    json want_tensors = json::array();
    std::mt19937 rng(alignment);
    for (const auto& t : tensors) {
      std::vector<uint8_t> bytes(t.n_bytes);
      for (auto& b : bytes) b = static_cast<uint8_t>(rng());
      want_tensors.push_back({{"name", t.name}, {"type", static_cast<uint32_t>(t.type)}, {"ne", t.ne},
                              {"hex", testing::to_hex(bytes)}});
      ASSERT_TRUE(w.add_tensor_copy(t.name, t.type, t.ne, std::move(bytes)).ok());
    }
    const std::string path = fmt::format("{}/ours-{}.gguf", dir, alignment);
    ASSERT_TRUE(w.write(path).ok());
    const std::string out = path + ".json";
    ASSERT_EQ(testing::run_python("gguf_reference_read.py", fmt::format("'{}' > '{}'", path, out)), 0);
    const json got = json::parse(testing::read_text(out));
    const json want_meta = testing::metadata_json(w.metadata());
    ASSERT_EQ(got["metadata"].size(), want_meta.size());
    for (const auto& [key, value] : want_meta.items()) {
      ASSERT_TRUE(got["metadata"].contains(key)) << key;
      EXPECT_EQ(got["metadata"][key], value) << key << ": got " << got["metadata"][key].dump();
    }
    ASSERT_EQ(got["tensors"].size(), want_tensors.size());
    for (size_t i = 0; i < want_tensors.size(); ++i) {
      json g = got["tensors"][i];
      EXPECT_EQ(g["offset"].get<uint64_t>() % alignment, 0u);
      g.erase("offset");
      EXPECT_EQ(g, want_tensors[i]) << g.dump();
    }
  }
}

}  // namespace
}  // namespace specula::format
