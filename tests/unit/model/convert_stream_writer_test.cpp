// GgufStreamWriter must produce exactly the bytes GgufWriter (the reference encoder) produces.
#include <gtest/gtest.h>

#include <filesystem>

#include "base/mapped_file.h"
#include "model/convert/gguf_stream_writer.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using format::GgmlType;

std::vector<uint8_t> bytes_of(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

TEST(GgufStreamWriter, SameBytesAsGgufWriter) {
  format::GgufWriter meta;
  ASSERT_TRUE(meta.set_string("general.architecture", "gemma4").ok());
  ASSERT_TRUE(meta.set_array("a.ints", std::vector<int32_t>{1, -2, 3}).ok());
  ASSERT_TRUE(meta.set_array("a.bools", std::vector<bool>{true, false}).ok());
  ASSERT_TRUE(meta.set_array("a.strings", std::vector<std::string>{"x", "", "\xe2\x96\x81y"}).ok());
  ASSERT_TRUE(meta.set_f32("a.f", 1e-6f).ok());
  ASSERT_TRUE(meta.set_u64("a.u64", 1ull << 40).ok());
  const std::vector<StreamTensorInfo> infos = {
      {"t0", GgmlType::kF32, {3}}, {"t1", GgmlType::kF16, {5, 7}}, {"t2", GgmlType::kQ8_0, {64, 2, 3}}};
  format::GgufWriter full = meta;
  std::vector<std::vector<uint8_t>> data;
  for (size_t i = 0; i < infos.size(); ++i) {
    data.push_back(bytes_of(infos[i].n_bytes(), static_cast<uint8_t>(i)));
    ASSERT_TRUE(full.add_tensor_copy(infos[i].name, infos[i].type, infos[i].dims, data.back()).ok());
  }
  const std::vector<uint8_t> want = full.serialize();

  const std::string path = test::temp_dir() + "/s.gguf";
  auto w = GgufStreamWriter::create(path, meta, infos);
  ASSERT_TRUE(w.ok()) << w.error().message();
  // Pieces that straddle tensor boundaries.
  std::vector<uint8_t> all;
  for (const auto& d : data) all.insert(all.end(), d.begin(), d.end());
  size_t at = 0;
  for (size_t piece : {5u, 1u, 17u, 100u, 1000u}) {
    piece = std::min(piece, all.size() - at);
    ASSERT_TRUE((*w)->write({all.data() + at, piece}).ok());
    at += piece;
  }
  ASSERT_TRUE((*w)->write({all.data() + at, all.size() - at}).ok());
  ASSERT_TRUE((*w)->finish().ok());
  auto got = read_file(path);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), want.size());
  EXPECT_TRUE(std::equal(want.begin(), want.end(), reinterpret_cast<const uint8_t*>(got->data())));
}

TEST(GgufStreamWriter, IncompleteOrExcessDataIsAnError) {
  format::GgufWriter meta;
  const std::string path = test::temp_dir() + "/s.gguf";
  {
    auto w = GgufStreamWriter::create(path, meta, {{"t", GgmlType::kF32, {4}}});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->write(bytes_of(8, 0)).ok());
    EXPECT_FALSE((*w)->finish().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // the temp file is removed, nothing renamed
  auto w = GgufStreamWriter::create(path, meta, {{"t", GgmlType::kF32, {4}}});
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->write(bytes_of(20, 0)).ok());
}

TEST(GgufStreamWriter, RejectsBadTensorDeclarations) {
  format::GgufWriter meta;
  const std::string path = test::temp_dir() + "/s.gguf";
  EXPECT_FALSE(GgufStreamWriter::create(path, meta, {{"t", GgmlType::kQ4_K, {128}}}).ok());  // not a block multiple
  EXPECT_FALSE(GgufStreamWriter::create(path, meta, {{"t", GgmlType::kF32, {4}}, {"t", GgmlType::kF32, {4}}}).ok());
  EXPECT_FALSE(GgufStreamWriter::create(path, meta, {{std::string(64, 'x'), GgmlType::kF32, {4}}}).ok());
  EXPECT_FALSE(GgufStreamWriter::create(path, meta, {{"t", GgmlType::kF32, {}}}).ok());
}

}  // namespace
}  // namespace specula::model
