// The whole image path against transformers 5.17 on tests/data/vision_fixtures: the HF folders converted by
// specula (text GGUF + mmproj GGUF), the PNGs decoded and preprocessed by specula, encoded by its vision tower
// (std_bidir: standardized tower, no clipping; e_clip140: clipped linears, 140-token budget), and the prompt's
// logits from those embeddings (std_bidir: bidirectional image blocks on sliding layers).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "golden_util.h"
#include "model/convert/mmproj_convert.h"
#include "model/vision/vision_model.h"
#include "runtime/generate.h"
#include "runtime/image.h"
#include "runtime/multimodal.h"
#include "test_paths.h"
#include "vision_bidir_util.h"

namespace specula::test {
namespace {

std::string converted_mmproj(const std::string& name) {
  static std::map<std::string, std::string> done;
  if (auto it = done.find(name); it != done.end()) return it->second;
  model::ConvertOptions o;
  o.hf_dir = vision_fixture(name) + "/hf";
  o.out_path = temp_dir() + "/" + name + "-mmproj-f32.gguf";
  o.file_type = quant::FileType::kAllF32;
  ThreadPool pool(2);
  auto summary = model::convert_hf_mmproj(o, pool);
  EXPECT_TRUE(summary.ok()) << (summary.ok() ? "" : summary.error().message());
  done[name] = o.out_path;
  return o.out_path;
}

class FixturePipeline : public testing::TestWithParam<const char*> {};

TEST_P(FixturePipeline, EncoderAndLogitsFromThePngs) {
  const std::string name = GetParam();
  const auto prompt = read_json(vision_fixture(name) + "/prompt.json");
  const int budget = prompt.at("max_soft_tokens").get<int>();
  auto vm = model::VisionModel::load(converted_mmproj(name));
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  auto tm = model::TextModel::load(converted_text_model(name));
  ASSERT_TRUE(tm.ok()) << tm.error().message();
  ASSERT_TRUE(runtime::bind_vision_to_text(*vm.value(), *tm.value()).ok());
  const bool bidir = name == "std_bidir";
  EXPECT_EQ(vm.value()->config().standardize, bidir);
  EXPECT_EQ(vm.value()->config().clipped, !bidir);
  EXPECT_EQ(tm.value()->config().bidirectional_images, bidir);
  ThreadPool pool(2);
  std::vector<runtime::ImageEmbedding> images;
  for (const auto& img : prompt.at("images")) {
    const std::string file = img.at("file").get<std::string>();
    const std::string stem = vision_fixture(name) + "/" + file.substr(0, file.rfind('.'));
    auto image = runtime::load_image(shared_dir() + "/assets/images/" + file);
    ASSERT_TRUE(image.ok());
    auto p = runtime::preprocess_image(*image, budget);
    ASSERT_TRUE(p.ok());
    auto out = vm.value()->encode(pool, p->pixels, p->positions);
    ASSERT_TRUE(out.ok()) << out.error().message();
    ASSERT_EQ(out->n_tokens, img.at("n_soft_tokens").get<int64_t>());
    const auto pooled_ref = read_f32(stem + ".pooled.f32");
    const auto embeds_ref = read_f32(stem + ".embeds.f32");
    const float pooled_err = max_abs_diff(out->pooled, pooled_ref) / max_abs(pooled_ref);
    const float embeds_err = max_abs_diff(out->embeds, embeds_ref) / max_abs(embeds_ref);
    std::printf("  %s %s: pooled err %.2e, embeds err %.2e (of max |ref|)\n", name.c_str(), file.c_str(),
                static_cast<double>(pooled_err), static_cast<double>(embeds_err));
    EXPECT_LE(pooled_err, 1e-4f);
    EXPECT_LE(embeds_err, 1e-4f);
    images.push_back({out->n_tokens, out->embeds});
  }
  auto ids = runtime::image_token_ids(tm.value()->file());
  ASSERT_TRUE(ids.ok());
  const auto tokens = prompt.at("tokens").get<std::vector<int32_t>>();
  auto rows = runtime::multimodal_rows(tokens, ids.value(), images);
  ASSERT_TRUE(rows.ok()) << rows.error().message();
  const auto ref = read_f32(vision_fixture(name) + "/logits.f32");
  for (const int ub : {static_cast<int>(tokens.size()), 16}) {
    std::vector<int32_t> ends;
    if (bidir) {
      for (const auto& r : rows.value()) ends.push_back(r.block_end);
    }
    kv::KvPoolOptions o;
    o.type_k = o.type_v = kv::KvType::kF32;
    o.n_ctx = static_cast<int>(tokens.size());
    o.max_batch = runtime::max_prefill_chunk(ends, ub);
    auto cache = tm.value()->make_kv_cache(o);
    ASSERT_TRUE(cache.ok());
    const float err = max_abs_diff(chunked_logits(pool, *tm.value(), *cache.value(), rows.value(), ub, nullptr), ref) /
                      max_abs(ref);
    std::printf("  %s logits from the PNGs, -ub %d: max err %.2e of max |logit|\n", name.c_str(), ub,
                static_cast<double>(err));
    EXPECT_LE(err, 1e-4f);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixturePipeline, testing::Values("std_bidir", "e_clip140"));

// A text model whose image attention disagrees with the pair (as a llama.cpp 26B/31B file, which has no key,
// before binding) is refused by check_vision_matches_text rather than run silently causal; binding sets it.
TEST(FixturePipelineBinding, UnboundPairIsAnErrorAndBindingFixesIt) {
  auto vm = model::VisionModel::load(converted_mmproj("std_bidir"));
  ASSERT_TRUE(vm.ok());
  auto tm = model::TextModel::load(converted_text_model("std_bidir"));
  ASSERT_TRUE(tm.ok());
  tm.value()->set_bidirectional_images(false);
  EXPECT_FALSE(runtime::check_vision_matches_text(*vm.value(), *tm.value()).ok());
  ASSERT_TRUE(runtime::bind_vision_to_text(*vm.value(), *tm.value()).ok());
  EXPECT_TRUE(tm.value()->config().bidirectional_images);
  EXPECT_TRUE(runtime::check_vision_matches_text(*vm.value(), *tm.value()).ok());
}

}  // namespace
}  // namespace specula::test
