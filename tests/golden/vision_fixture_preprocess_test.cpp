// Image decoding + preprocessing against the transformers processor facts of tests/data/vision_fixtures
// (prompt.json per image: patch grid, valid patches, soft tokens, sha256 and sum of the valid pixel rows as
// float32 [n_valid, 768]; <image>.position_ids.i32), for two budgets (70: std_bidir, 140: e_clip140) and two
// aspect ratios, one of them an RGBA PNG (alpha dropped as PIL's convert("RGB") does). The sha256 comes from
// Python's hashlib over our pixel bytes.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "golden_util.h"
#include "runtime/image.h"
#include "test_paths.h"
#include "vision_bidir_util.h"

namespace specula::test {
namespace {

std::string sha256_of_file(const std::string& path) {
  const std::string cmd = fmt::format(
      "'{}' -c \"import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())\" '{}'",
      python(), path);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  char buf[128] = {};
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  std::string s(buf, n);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class FixturePreprocess : public testing::TestWithParam<const char*> {};

TEST_P(FixturePreprocess, PixelsPositionsAndTokenCountsMatchTheProcessor) {
  const std::string name = GetParam();
  const auto prompt = read_json(vision_fixture(name) + "/prompt.json");
  const int budget = prompt.at("max_soft_tokens").get<int>();
  for (const auto& img : prompt.at("images")) {
    const std::string file = img.at("file").get<std::string>();
    const std::string stem = file.substr(0, file.rfind('.'));
    auto image = runtime::load_image(shared_dir() + "/assets/images/" + file);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image->width, img.at("size_wh")[0].get<int>());
    EXPECT_EQ(image->height, img.at("size_wh")[1].get<int>());
    auto p = runtime::preprocess_image(*image, budget);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(p->grid_h, img.at("patch_grid_hw")[0].get<int>()) << file;
    EXPECT_EQ(p->grid_w, img.at("patch_grid_hw")[1].get<int>()) << file;
    EXPECT_EQ(p->n_patches, img.at("n_valid_patches").get<int64_t>()) << file;
    EXPECT_EQ(p->n_soft_tokens, img.at("n_soft_tokens").get<int64_t>()) << file;
    EXPECT_EQ(p->positions, read_i32(vision_fixture(name) + "/" + stem + ".position_ids.i32")) << file;
    ASSERT_EQ(p->pixels.size(), static_cast<size_t>(p->n_patches) * 768);
    double sum = 0;
    for (const float v : p->pixels) sum += static_cast<double>(v);
    const double want_sum = img.at("pixel_values_sum").get<double>();
    EXPECT_NEAR(sum, want_sum, 1e-9 * want_sum) << file;
    const std::string bytes_path = temp_dir() + "/" + stem + ".pixels.f32";
    {
      std::ofstream out(bytes_path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(p->pixels.data()),
                static_cast<std::streamsize>(p->pixels.size() * sizeof(float)));
    }
    EXPECT_EQ(sha256_of_file(bytes_path), img.at("pixel_values_sha256").get<std::string>()) << file;
    std::printf("  %s, budget %d: %d x %d patches, %lld soft tokens, pixel sum %.9f (reference %.9f)\n", file.c_str(),
                budget, p->grid_h, p->grid_w, static_cast<long long>(p->n_soft_tokens), sum, want_sum);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixturePreprocess, testing::Values("std_bidir", "e_clip140"));

}  // namespace
}  // namespace specula::test
