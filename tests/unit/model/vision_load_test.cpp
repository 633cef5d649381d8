// VisionModel on small synthetic mmproj files (written with GgufWriter): hparam and tensor validation, encode
// input checks, and the standardize -> weightless RMSNorm -> projection tail computed independently in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "format/gguf_writer.h"
#include "model/vision/vision_model.h"

namespace specula::model {
namespace {

constexpr int64_t kD = 8, kFf = 12, kPos = 8, kText = 6, kPatch = 16;

struct Spec {
  std::string projector = "gemma4v";
  uint32_t heads = 2;
  bool clamps = false;
  bool standardize = false;
  std::string drop = {};  // a tensor left out
};

std::vector<uint8_t> f32_bytes(size_t n, std::mt19937& rng, float scale = 0.3f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  std::vector<uint8_t> b(n * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Serialized mmproj; `keep` owns the bytes the parsed file points into.
Result<std::unique_ptr<VisionModel>> make_model(const Spec& s, std::vector<uint8_t>& keep) {
  format::GgufWriter w;
  std::mt19937 rng(3);
  EXPECT_TRUE(w.set_string("general.architecture", "clip").ok());
  EXPECT_TRUE(w.set_string("clip.vision.projector_type", s.projector).ok());
  EXPECT_TRUE(w.set_u32("clip.vision.embedding_length", kD).ok());
  EXPECT_TRUE(w.set_u32("clip.vision.feed_forward_length", kFf).ok());
  EXPECT_TRUE(w.set_u32("clip.vision.block_count", 1).ok());
  EXPECT_TRUE(w.set_u32("clip.vision.attention.head_count", s.heads).ok());
  EXPECT_TRUE(w.set_u32("clip.vision.patch_size", kPatch).ok());
  EXPECT_TRUE(w.set_u32("clip.vision.projection_dim", kText).ok());
  EXPECT_TRUE(w.set_f32("clip.vision.attention.layer_norm_epsilon", 1e-6f).ok());
  const int64_t hd = kD / std::max<int64_t>(s.heads, 1);
  auto add = [&](const std::string& name, std::vector<int64_t> dims) {
    if (name == s.drop) return;
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    EXPECT_TRUE(w.add_tensor_copy(name, format::GgmlType::kF32, dims, f32_bytes(n, rng)).ok()) << name;
  };
  add("v.patch_embd.weight", {kPatch, kPatch, 3, kD});
  add("v.position_embd.weight", {kD, kPos, 2});
  for (const char* n : {"ln1", "ln2", "attn_post_norm", "ffn_post_norm"}) add(std::string("v.blk.0.") + n + ".weight", {kD});
  add("v.blk.0.attn_q_norm.weight", {hd});
  add("v.blk.0.attn_k_norm.weight", {hd});
  const std::pair<const char*, std::vector<int64_t>> linears[] = {
      {"attn_q", {kD, kD}}, {"attn_k", {kD, kD}}, {"attn_v", {kD, kD}}, {"attn_out", {kD, kD}},
      {"ffn_gate", {kD, kFf}}, {"ffn_up", {kD, kFf}}, {"ffn_down", {kFf, kD}}};
  for (const auto& [n, dims] : linears) {
    add(std::string("v.blk.0.") + n + ".weight", dims);
    if (s.clamps) {
      for (const char* b : {"input_min", "input_max", "output_min", "output_max"}) {
        add(std::string("v.blk.0.") + n + "." + b, {1});
      }
    }
  }
  if (s.standardize) {
    add("v.std_bias", {kD});
    add("v.std_scale", {kD});
  }
  add("mm.input_projection.weight", {kD, kText});
  keep = w.serialize();
  SPECULA_TRY(auto file, format::GgufFile::parse(keep, "synthetic-mmproj.gguf"));
  return VisionModel::from_file(std::move(file));
}

// A complete 3x6 grid of patches (x = column, y = row) with random pixels in [0, 1].
void grid(int w, int h, std::vector<float>& pixels, std::vector<int32_t>& pos) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  pixels.resize(static_cast<size_t>(w * h * kPatch * kPatch * 3));
  for (float& p : pixels) p = u(rng);
  pos.clear();
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      pos.push_back(x);
      pos.push_back(y);
    }
  }
}

TEST(VisionLoad, SyntheticModelLoadsAndEncodes) {
  std::vector<uint8_t> keep;
  auto m = make_model({}, keep);
  ASSERT_TRUE(m.ok()) << m.error().message();
  const VisionConfig& c = m.value()->config();
  EXPECT_EQ(c.hidden, kD);
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.n_positions, kPos);
  EXPECT_EQ(c.text_hidden, kText);
  EXPECT_FALSE(c.clipped);
  EXPECT_FALSE(c.standardize);
  std::vector<float> px;
  std::vector<int32_t> pos;
  grid(6, 3, px, pos);
  ThreadPool pool(1);
  auto out = m.value()->encode(pool, px, pos);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out.value().n_tokens, 2);
  EXPECT_EQ(out.value().embeds.size(), static_cast<size_t>(2 * kText));
}

TEST(VisionLoad, StandardizedTailMatchesDoubleComputation) {
  std::vector<uint8_t> keep;
  auto m = make_model({.standardize = true}, keep);
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_TRUE(m.value()->config().standardize);
  auto file = format::GgufFile::parse(keep, "again");
  ASSERT_TRUE(file.ok());
  const auto vec = [&](const char* name) {
    const auto* t = file.value().find_tensor(name);
    std::vector<float> v(t->n_elements);
    std::memcpy(v.data(), file.value().tensor_data(*t).data(), v.size() * 4);
    return v;
  };
  const auto bias = vec("v.std_bias"), scale = vec("v.std_scale"), proj = vec("mm.input_projection.weight");
  std::vector<float> px;
  std::vector<int32_t> pos;
  grid(3, 6, px, pos);
  ThreadPool pool(1);
  auto out = m.value()->encode(pool, px, pos);
  ASSERT_TRUE(out.ok()) << out.error().message();
  for (int64_t t = 0; t < out.value().n_tokens; ++t) {
    std::vector<double> s(kD);
    double ms = 0;
    for (int64_t j = 0; j < kD; ++j) {
      const auto i = static_cast<size_t>(j);
      s[i] = (static_cast<double>(out.value().pooled[static_cast<size_t>(t * kD + j)]) - static_cast<double>(bias[i])) *
             static_cast<double>(scale[i]);
      ms += s[static_cast<size_t>(j)] * s[static_cast<size_t>(j)];
    }
    const double inv = 1.0 / std::sqrt(ms / kD + 1e-6);
    for (int64_t r = 0; r < kText; ++r) {
      double y = 0;
      for (int64_t j = 0; j < kD; ++j) {
        y += static_cast<double>(proj[static_cast<size_t>(r * kD + j)]) * s[static_cast<size_t>(j)] * inv;
      }
      EXPECT_NEAR(static_cast<double>(out.value().embeds[static_cast<size_t>(t * kText + r)]), y, 1e-5 * (1 + std::fabs(y)));
    }
  }
}

TEST(VisionLoad, BadFilesAreClearErrors) {
  struct Bad {
    Spec spec;
    const char* needle;
  };
  const Bad cases[] = {
      {{.projector = "gemma3"}, "gemma3"},
      {{.heads = 3}, "head_count"},
      {{.heads = 4}, "divisible by 4"},  // head size 2
      {{.heads = 0}, "out of range"},
      {{.drop = "v.blk.0.attn_v.weight"}, "v.blk.0.attn_v.weight"},
      {{.drop = "v.position_embd.weight"}, "v.position_embd.weight"},
      {{.drop = "v.patch_embd.weight"}, "v.patch_embd.weight"},
      {{.clamps = true, .drop = "v.blk.0.ffn_up.output_max"}, "v.blk.0.ffn_up.output_max"},
      {{.standardize = true, .drop = "v.std_scale"}, "v.std_scale"},
  };
  for (const Bad& b : cases) {
    std::vector<uint8_t> keep;
    auto m = make_model(b.spec, keep);
    ASSERT_FALSE(m.ok()) << b.needle;
    EXPECT_NE(m.error().message().find(b.needle), std::string::npos) << m.error().message();
  }
}

TEST(VisionLoad, BadEncodeInputsAreErrors) {
  std::vector<uint8_t> keep;
  auto m = make_model({.clamps = true}, keep);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE(m.value()->config().clipped);
  ThreadPool pool(1);
  std::vector<float> px;
  std::vector<int32_t> pos;
  grid(3, 3, px, pos);
  EXPECT_TRUE(m.value()->encode(pool, px, pos).ok());
  EXPECT_FALSE(m.value()->encode(pool, std::span(px).first(px.size() - 1), pos).ok());  // partial patch
  EXPECT_FALSE(m.value()->encode(pool, px, std::span(pos).first(pos.size() - 2)).ok());  // missing position
  EXPECT_FALSE(m.value()->encode(pool, {}, {}).ok());
  auto far = pos;
  far[0] = kPos;  // outside the position table
  EXPECT_FALSE(m.value()->encode(pool, px, far).ok());
  grid(4, 3, px, pos);  // width not a multiple of 3
  EXPECT_FALSE(m.value()->encode(pool, px, pos).ok());
  grid(3, 3, px, pos);
  pos[2] = 0;  // duplicate position: the grid is incomplete
  EXPECT_FALSE(m.value()->encode(pool, px, pos).ok());
}

}  // namespace
}  // namespace specula::model
