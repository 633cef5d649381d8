// Golden tests of the vision tower against transformers 5.17 (float32) on the tiny clipped tower of
// ../shared/fixtures/llamacpp/vision, loaded from llama.cpp's mmproj GGUF.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include "format/gguf_writer.h"
#include "golden_util.h"
#include "model/vision/vision_model.h"
#include "runtime/multimodal.h"
#include "test_paths.h"

namespace specula::test {
namespace {

std::vector<int32_t> read_i32(const std::string& path) {
  const auto f = read_f32(path);  // same byte count; reinterpret
  std::vector<int32_t> v(f.size());
  std::memcpy(v.data(), f.data(), f.size() * sizeof(float));
  return v;
}

TEST(VisionGolden, EmbeddingsFromReferencePixelsMatch) {
  const std::string dir = fixture_dir("vision");
  auto vm = model::VisionModel::load(dir + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  EXPECT_TRUE(vm.value()->config().clipped);
  EXPECT_FALSE(vm.value()->config().standardize);
  const auto pixels = read_f32(dir + "/coffee.pixel_values.f32");
  const auto pos = read_i32(dir + "/coffee.position_ids.i32");
  ThreadPool pool(2);
  auto out = vm.value()->encode(pool, pixels, pos);
  ASSERT_TRUE(out.ok()) << out.error().message();
  ASSERT_EQ(out.value().n_tokens, 60);
  const auto pooled_ref = read_f32(dir + "/vision_pooled_coffee.f32");
  const auto embeds_ref = read_f32(dir + "/image_embeds_coffee.f32");
  const float pooled_err = max_abs_diff(out.value().pooled, pooled_ref) / max_abs(pooled_ref);
  const float embeds_err = max_abs_diff(out.value().embeds, embeds_ref) / max_abs(embeds_ref);
  std::printf("  vision pooled err %.2e, embeds err %.2e (of max |ref|)\n", static_cast<double>(pooled_err),
              static_cast<double>(embeds_err));
  EXPECT_LE(pooled_err, 1e-3f);
  EXPECT_LE(embeds_err, 1e-3f);
}


// Runs tokens (with one image block) through the text model in chunks; returns logits of every row.
std::vector<float> image_logits(ThreadPool& pool, model::TextModel& m, const std::vector<int32_t>& tokens,
                                const runtime::ImageEmbedding& image, size_t ubatch) {
  auto ids = runtime::image_token_ids(m.file());
  EXPECT_TRUE(ids.ok());
  const std::vector<runtime::ImageEmbedding> images = {image};
  auto rows = runtime::multimodal_rows(tokens, ids.value(), images);
  EXPECT_TRUE(rows.ok()) << rows.error().message();
  const size_t vocab = static_cast<size_t>(m.vocab());
  auto cache = m.make_cache(1, static_cast<int>(tokens.size()) + 1);
  EXPECT_TRUE(cache.ok());
  std::vector<float> logits(tokens.size() * vocab);
  for (size_t begin = 0; begin < tokens.size(); begin += ubatch) {
    const size_t end = std::min(tokens.size(), begin + ubatch);
    std::vector<int32_t> out_rows;
    for (size_t i = begin; i < end; ++i) out_rows.push_back(static_cast<int32_t>(i - begin));
    const std::span<const model::ForwardRow> chunk(rows.value().data() + begin, end - begin);
    const auto st = m.forward(pool, cache.value(), chunk, {out_rows, logits.data() + begin * vocab, nullptr});
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  }
  return logits;
}

// The image prompt + 16 greedy tokens against the reference forward, from the reference pixels and from
// our own preprocessing of coffee.png.
TEST(VisionGolden, LogitsWithImageMatchReference) {
  const std::string dir = fixture_dir("vision");
  auto vm = model::VisionModel::load(dir + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  auto tm = model::TextModel::load(dir + "/llamacpp-f32.gguf");
  ASSERT_TRUE(tm.ok()) << tm.error().message();
  ASSERT_TRUE(runtime::check_vision_matches_text(*vm.value(), *tm.value()).ok());
  const auto prompt = read_json(dir + "/prompt.json");
  const auto seq = prompt.at("greedy_seq_tokens").get<std::vector<int32_t>>();
  const auto ref = read_f32(dir + "/greedy_seq_logits.f32");
  ThreadPool pool(2);
  const auto pixels = read_f32(dir + "/coffee.pixel_values.f32");
  const auto pos = read_i32(dir + "/coffee.position_ids.i32");
  auto out = vm.value()->encode(pool, pixels, pos);
  ASSERT_TRUE(out.ok());
  const runtime::ImageEmbedding exact{out.value().n_tokens, out.value().embeds};
  auto own = runtime::embed_image_file(pool, *vm.value(), shared_dir() + "/assets/images/coffee.png", 70);
  ASSERT_TRUE(own.ok()) << own.error().message();
  const float scale = max_abs(ref);
  for (size_t ub : {seq.size(), size_t{7}}) {
    const float err = max_abs_diff(image_logits(pool, *tm.value(), seq, exact, ub), ref) / scale;
    const float err_own = max_abs_diff(image_logits(pool, *tm.value(), seq, own.value(), ub), ref) / scale;
    std::printf("  image logits (ubatch %zu): err %.2e with reference pixels, %.2e with own preprocessing\n", ub,
                static_cast<double>(err), static_cast<double>(err_own));
    EXPECT_LE(err, 1e-3f);
    EXPECT_LE(err_own, 1e-3f);
  }
  // Greedy: the argmax of the prompt's last row and of each generated row equals the generated tokens.
  const auto gen = prompt.at("generated_tokens").get<std::vector<int32_t>>();
  const auto logits = image_logits(pool, *tm.value(), seq, exact, seq.size());
  const size_t vocab = static_cast<size_t>(tm.value()->vocab()), t0 = seq.size() - gen.size() - 1;
  for (size_t s = 0; s < gen.size(); ++s) {
    const float* row = logits.data() + (t0 + s) * vocab;
    EXPECT_EQ(std::max_element(row, row + vocab) - row, gen[s]) << "step " << s;
  }
}

TEST(VisionGolden, BlockAndImageCountsMustAgree) {
  runtime::ImageTokenIds ids{4, 6, 5};
  const std::vector<runtime::ImageEmbedding> one = {{2, std::vector<float>(2 * 8, 0.5f)}};
  EXPECT_TRUE(runtime::multimodal_rows(std::vector<int32_t>{2, 4, 6, 6, 5, 9}, ids, one).ok());
  EXPECT_FALSE(runtime::multimodal_rows(std::vector<int32_t>{2, 4, 6, 5, 9}, ids, one).ok());       // 1 != 2
  EXPECT_FALSE(runtime::multimodal_rows(std::vector<int32_t>{2, 4, 6, 6, 6, 5}, ids, one).ok());    // 3 != 2
  EXPECT_FALSE(runtime::multimodal_rows(std::vector<int32_t>{2, 9}, ids, one).ok());                // no block
  EXPECT_FALSE(runtime::multimodal_rows(std::vector<int32_t>{2, 6, 9}, ids, one).ok());             // stray soft
  EXPECT_FALSE(runtime::multimodal_rows(std::vector<int32_t>{2, 4, 6, 6}, ids, one).ok());          // no eoi
  auto rows = runtime::multimodal_rows(std::vector<int32_t>{2, 4, 6, 6, 5}, ids, one);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows.value()[2].token, 0);
  EXPECT_EQ(rows.value()[2].embedding, one[0].embeds.data());
  EXPECT_EQ(rows.value()[3].embedding, one[0].embeds.data() + 8);
  EXPECT_EQ(rows.value()[4].embedding, nullptr);
}

TEST(VisionGolden, BidirectionalImageAttentionRule) {
  const auto text_file = [](std::optional<bool> key, std::vector<uint8_t>& keep) {
    format::GgufWriter w;
    EXPECT_TRUE(w.set_string("general.architecture", "gemma4").ok());
    if (key) {
      EXPECT_TRUE(w.set_bool("gemma4.attention.bidirectional_vision", *key).ok());
    }
    keep = w.serialize();
    auto f = format::GgufFile::parse(keep, "text.gguf");
    EXPECT_TRUE(f.ok());
    return std::move(f.value());
  };
  model::VisionConfig clipped, standardized;
  clipped.clipped = true;
  standardized.standardize = true;
  std::vector<uint8_t> a, b, c;
  const auto none = text_file(std::nullopt, a), yes = text_file(true, b), no = text_file(false, c);
  EXPECT_FALSE(runtime::image_attention_bidirectional(none, clipped));      // E2B/E4B from llama.cpp
  EXPECT_TRUE(runtime::image_attention_bidirectional(none, standardized));  // 26B/31B from llama.cpp
  EXPECT_TRUE(runtime::image_attention_bidirectional(yes, clipped));        // our converter's key wins
  EXPECT_FALSE(runtime::image_attention_bidirectional(no, standardized));
}

TEST(VisionGolden, BadMmprojFilesAreErrors) {
  // The text model is not an mmproj file.
  auto text = model::VisionModel::load(fixture_dir("vision") + "/llamacpp-f32.gguf");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message().find("clip"), std::string::npos) << text.error().message();
  EXPECT_FALSE(model::VisionModel::load("/nonexistent.gguf").ok());
}

}  // namespace
}  // namespace specula::test
