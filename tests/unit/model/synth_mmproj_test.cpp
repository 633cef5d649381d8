// synth *-mmproj presets: the plans have llama.cpp's mmproj keys (names, order, value types of the vision
// fixture's llama.cpp file) with the released towers' hyperparameters (gemma4-spec.md §2.1, listed here by
// hand) and projection_dim = the matching text preset's width; tensor shapes and --type f16 types follow
// llama.cpp's converter. tiny-mmproj is written for real: it loads, encodes the fixture's coffee pixels to
// finite unit-scale embeddings, and its clamps clip (removing them changes the embeddings).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "model/synth/mmproj_presets.h"
#include "model/vision/vision_model.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using format::GgmlType;
using format::GgufFile;

struct Expected {
  const char* preset;
  uint32_t d, ff, layers, heads, text_hidden;
  bool clipped;
};

// §2.1 and the text presets' widths (E2B 1536, E4B 2560, 26B-A4B 2816, 31B 5376; tiny 256).
const Expected kExpected[] = {
    {"e2b-mmproj", 768, 3072, 16, 12, 1536, true},      {"e4b-mmproj", 768, 3072, 16, 12, 2560, true},
    {"26b-a4b-mmproj", 1152, 4304, 27, 16, 2816, false}, {"31b-mmproj", 1152, 4304, 27, 16, 5376, false},
    {"tiny-mmproj", 64, 256, 2, 4, 256, true},
};

Result<SynthPlan> plan_of(const char* preset, const char* type = "f16") {
  SynthOptions o;
  o.preset = preset;
  o.file_type = quant::parse_file_type(type).value();
  return plan_mmproj_synth(o);
}

std::map<std::string, const TensorSpec*> by_name(const SynthPlan& p) {
  std::map<std::string, const TensorSpec*> m;
  for (const auto& t : p.tensors) m[t.name] = &t;
  return m;
}

TEST(SynthMmproj, PresetsHaveLlamaCppKeysAndReleasedShapes) {
  auto ref = GgufFile::open(test::shared_dir() + "/fixtures/llamacpp/vision/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(ref.ok());
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.preset);
    auto plan = plan_of(e.preset);
    ASSERT_TRUE(plan.ok()) << plan.error().message();
    auto f = GgufFile::parse(synth_metadata_bytes(*plan), "dry-run");
    ASSERT_TRUE(f.ok()) << f.error().message();
    ASSERT_EQ(f->metadata().size(), ref->metadata().size());
    for (size_t i = 0; i < ref->metadata().size(); ++i) {
      EXPECT_EQ(f->metadata()[i].first, ref->metadata()[i].first);
      EXPECT_EQ(f->metadata()[i].second.type, ref->metadata()[i].second.type) << ref->metadata()[i].first;
    }
    EXPECT_EQ(f->get_string("clip.vision.projector_type").value(), "gemma4v");
    EXPECT_EQ(f->get_uint("clip.vision.embedding_length").value(), e.d);
    EXPECT_EQ(f->get_uint("clip.vision.feed_forward_length").value(), e.ff);
    EXPECT_EQ(f->get_uint("clip.vision.block_count").value(), e.layers);
    EXPECT_EQ(f->get_uint("clip.vision.attention.head_count").value(), e.heads);
    EXPECT_EQ(f->get_uint("clip.vision.projection_dim").value(), e.text_hidden);
    EXPECT_EQ(f->get_uint("clip.vision.patch_size").value(), 16u);
    EXPECT_EQ(f->get_uint("general.file_type").value(), 1u);

    const int64_t d = e.d, ff = e.ff, hd = e.d / e.heads;
    // Per layer: 6 norms + 7 linears (+ 4 clamps each when clipped); projector, patch, position (+ std pair).
    const size_t per_layer = e.clipped ? 41 : 13;
    EXPECT_EQ(plan->tensors.size(), e.layers * per_layer + 3 + (e.clipped ? 0 : 2));
    const auto t = by_name(*plan);
    const int64_t last = e.layers - 1;
    const std::string b = "v.blk." + std::to_string(last) + ".";
    EXPECT_EQ(t.at("v.patch_embd.weight")->dims, (std::vector<int64_t>{16, 16, 3, d}));
    EXPECT_EQ(t.at("mm.input_projection.weight")->dims, (std::vector<int64_t>{d, e.text_hidden}));
    EXPECT_EQ(t.at(b + "ffn_down.weight")->dims, (std::vector<int64_t>{ff, d}));
    EXPECT_EQ(t.at(b + "ffn_gate.weight")->dims, (std::vector<int64_t>{d, ff}));
    EXPECT_EQ(t.at(b + "attn_q_norm.weight")->dims, (std::vector<int64_t>{hd}));
    EXPECT_EQ(t.count(b + "attn_out.input_max"), e.clipped ? 1u : 0u);
    EXPECT_EQ(t.count("v.std_bias") + t.count("v.std_scale"), e.clipped ? 0u : 2u);
    if (std::string(e.preset) != "tiny-mmproj") {
      EXPECT_EQ(t.at("v.position_embd.weight")->dims, (std::vector<int64_t>{d, 10240, 2}));
    }
    // llama.cpp's --outtype f16: ".weight" tensors of 2+ dims in F16 but the position table; the rest F32.
    for (size_t i = 0; i < plan->tensors.size(); ++i) {
      const TensorSpec& s = plan->tensors[i];
      const bool weight = s.name.size() > 7 && s.name.compare(s.name.size() - 7, 7, ".weight") == 0;
      const bool f16 = weight && s.dims.size() >= 2 && s.name != "v.position_embd.weight";
      EXPECT_EQ(plan->types[i], f16 ? GgmlType::kF16 : GgmlType::kF32) << s.name;
    }
  }
}

TEST(SynthMmproj, RejectsQuantizedMixesAndVocab) {
  EXPECT_FALSE(plan_of("tiny-mmproj", "q4_k_m").ok());
  EXPECT_TRUE(plan_of("tiny-mmproj", "q8_0").ok());
  SynthOptions o;
  o.preset = "tiny-mmproj";
  o.vocab_path = "x.gguf";
  EXPECT_FALSE(plan_mmproj_synth(o).ok());
  EXPECT_FALSE(is_mmproj_preset("tiny"));
}

struct Pixels {
  std::vector<float> values;
  std::vector<int32_t> positions;
};

Pixels coffee() {
  const std::string dir = test::shared_dir() + "/fixtures/llamacpp/vision/";
  auto px = read_file(dir + "coffee.pixel_values.f32");
  auto pos = read_file(dir + "coffee.position_ids.i32");
  EXPECT_TRUE(px.ok() && pos.ok());
  Pixels p;
  p.values.resize(px->size() / 4);
  std::memcpy(p.values.data(), px->data(), px->size());
  p.positions.resize(pos->size() / 4);
  std::memcpy(p.positions.data(), pos->data(), pos->size());
  return p;
}

// A copy of the file with every clamp bound moved out to +-inf.
std::string without_clamps(const GgufFile& f, const std::string& path) {
  format::GgufWriter w;
  for (const auto& [k, v] : f.metadata()) EXPECT_TRUE(w.set(k, v).ok()) << k;
  for (const auto& t : f.tensors()) {
    const auto bytes = f.tensor_data(t);
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    const bool lo = t.name.size() > 4 && t.name.compare(t.name.size() - 4, 4, "_min") == 0;
    const bool hi = t.name.size() > 4 && t.name.compare(t.name.size() - 4, 4, "_max") == 0;
    if (lo || hi) {
      const float inf = hi ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
      std::memcpy(copy.data(), &inf, 4);
    }
    EXPECT_TRUE(w.add_tensor_copy(t.name, t.type, t.dims, std::move(copy)).ok()) << t.name;
  }
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

double rms(const std::vector<float>& v) {
  double s = 0.0;
  for (const float x : v) s += static_cast<double>(x) * static_cast<double>(x);
  return std::sqrt(s / static_cast<double>(v.size()));
}

TEST(SynthMmproj, TinyLoadsEncodesSanelyAndItsClampsClip) {
  SynthOptions o;
  o.preset = "tiny-mmproj";
  o.seed = 5;
  const std::string path = test::temp_dir() + "/tiny-mmproj.gguf";
  ThreadPool pool(2);
  ASSERT_TRUE(synth_mmproj(o, path, pool).ok());
  auto m = VisionModel::load(path);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE((*m)->config().clipped);
  EXPECT_EQ((*m)->config().text_hidden, 256);
  const Pixels p = coffee();
  auto out = (*m)->encode(pool, p.values, p.positions);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(out->n_tokens, 60);
  for (const float x : out->embeds) ASSERT_TRUE(std::isfinite(x));
  // RMSNorm then a projection of variance 1/D: unit-scale rows.
  EXPECT_GT(rms(out->embeds), 0.5);
  EXPECT_LT(rms(out->embeds), 2.0);
  for (const float x : out->pooled) ASSERT_TRUE(std::isfinite(x));

  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok());
  auto open = VisionModel::load(without_clamps(*f, test::temp_dir() + "/unclamped.gguf"));
  ASSERT_TRUE(open.ok()) << open.error().message();
  auto out2 = (*open)->encode(pool, p.values, p.positions);
  ASSERT_TRUE(out2.ok());
  double diff = 0.0;
  for (size_t i = 0; i < out->embeds.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(out->embeds[i]) - static_cast<double>(out2->embeds[i])));
  }
  EXPECT_GT(diff, 1e-3) << "no clamp bound was reached";
  std::printf("tiny-mmproj on coffee: embeds RMS %.3f, pooled RMS %.3f, max |change| without clamps %.3f\n",
              rms(out->embeds), rms(out->pooled), diff);

  // The file depends on the seed only.
  const std::string again = test::temp_dir() + "/again.gguf";
  ThreadPool one(1);
  ASSERT_TRUE(synth_mmproj(o, again, one).ok());
  EXPECT_EQ(read_file(path).value(), read_file(again).value());
}

// The sampling rules of mmproj_presets.h on an f32 tiny-mmproj: matrices of variance 1 / fan_in (the patch
// kernel's fan-in is 16 x 16 x 3 = 768, not its 16-wide rows), norms in (0.5, 1.5), clamp bounds +-(2, 3).
TEST(SynthMmproj, TinyValuesFollowTheSamplingRules) {
  SynthOptions o;
  o.preset = "tiny-mmproj";
  o.file_type = quant::FileType::kAllF32;
  const std::string path = test::temp_dir() + "/tiny32.gguf";
  ThreadPool pool(2);
  ASSERT_TRUE(synth_mmproj(o, path, pool).ok());
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok());
  const auto values = [&](const std::string& name) {
    const auto* t = f->find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    const auto bytes = f->tensor_data(*t);
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  };
  const auto variance = [](const std::vector<float>& v) { return rms(v) * rms(v); };
  EXPECT_NEAR(variance(values("v.patch_embd.weight")) * 768.0, 1.0, 0.05);
  EXPECT_NEAR(variance(values("v.blk.1.ffn_down.weight")) * 256.0, 1.0, 0.05);
  EXPECT_NEAR(variance(values("mm.input_projection.weight")) * 64.0, 1.0, 0.05);
  EXPECT_NEAR(variance(values("v.position_embd.weight")) * 64.0, 1.0, 0.05);
  for (const float x : values("v.blk.0.ln1.weight")) EXPECT_TRUE(x > 0.5f && x < 1.5f);
  for (const char* lin : {"attn_q", "attn_out", "ffn_down"}) {
    for (const char* bound : {"input_min", "output_min"}) {
      const float x = values(std::string("v.blk.1.") + lin + "." + bound)[0];
      EXPECT_TRUE(x < -2.0f && x > -3.0f) << lin << "." << bound << " = " << x;
    }
    for (const char* bound : {"input_max", "output_max"}) {
      const float x = values(std::string("v.blk.1.") + lin + "." + bound)[0];
      EXPECT_TRUE(x > 2.0f && x < 3.0f) << lin << "." << bound << " = " << x;
    }
  }
}

TEST(SynthMmproj, StandardizedPresetShapes) {
  // 26B/31B: std_bias / std_scale over D = 1152 and head dim 1152 / 16 = 72 (a multiple of 4, as the RoPE needs).
  auto plan = plan_of("26b-a4b-mmproj", "f32");
  ASSERT_TRUE(plan.ok());
  const auto t = by_name(*plan);
  EXPECT_EQ(t.at("v.std_bias")->dims, (std::vector<int64_t>{1152}));
  EXPECT_EQ(t.at("v.std_scale")->dims, (std::vector<int64_t>{1152}));
  EXPECT_EQ(t.at("v.blk.26.attn_k_norm.weight")->dims, (std::vector<int64_t>{72}));
}

}  // namespace
}  // namespace specula::model
