// synth presets: the metadata of every preset, read back through the text loader's read_text_config, has
// the layer structure of gemma4-spec.md §1.2 (numbers typed in from the spec's table, not computed by synth).
// The big presets are checked from their metadata and tensor plan only (no weights are written).
#include <gtest/gtest.h>

#include <set>

#include "format/gguf_reader.h"
#include "model/convert/gguf_metadata.h"
#include "model/synth/synth.h"
#include "model/text/text_config.h"

namespace specula::model {
namespace {

struct Loaded {
  SynthPlan plan;
  std::vector<uint8_t> bytes;  // keeps the parsed file's storage alive
  TextConfig config;
  bool bidirectional = false;
  std::set<std::string> tensors;
};

Loaded load(const std::string& preset, quant::FileType type = quant::FileType::kMostlyQ4_K_M) {
  SynthOptions o;
  o.preset = preset;
  o.file_type = type;
  auto plan = plan_synth(o);
  EXPECT_TRUE(plan.ok()) << plan.error().message();
  Loaded l{std::move(plan).value(), {}, {}, false, {}};
  l.bytes = synth_metadata_bytes(l.plan);
  auto file = format::GgufFile::parse(l.bytes, preset);
  EXPECT_TRUE(file.ok()) << file.error().message();
  auto config = read_text_config(*file);
  EXPECT_TRUE(config.ok()) << config.error().message();
  l.config = std::move(config).value();
  l.bidirectional = file->get_bool(kBidirectionalVisionKey).value();
  for (const auto& t : l.plan.tensors) l.tensors.insert(t.name);
  return l;
}

// (i+1) % period == 0 -> full attention (§1.2 layer type sequences).
void expect_pattern(const TextConfig& c, int period) {
  for (int i = 0; i < c.n_layers; ++i) {
    EXPECT_EQ(c.layers[static_cast<size_t>(i)].sliding, (i + 1) % period != 0) << "layer " << i;
    EXPECT_EQ(c.layers[static_cast<size_t>(i)].head_dim, (i + 1) % period != 0 ? 256 : 512) << "layer " << i;
  }
}

void expect_common(const Loaded& l) {
  EXPECT_EQ(l.config.arch, TextArch::kGemma4);
  EXPECT_FLOAT_EQ(l.config.final_softcap, 30.0f);
  EXPECT_FLOAT_EQ(l.config.rms_eps, 1e-6f);
  EXPECT_EQ(*l.tensors.find("token_embd.weight"), "token_embd.weight");
  EXPECT_FALSE(l.tensors.count("output.weight"));  // tied
  for (const auto& t : l.plan.tensors) {
    if (t.name == "token_embd.weight") {
      EXPECT_EQ(t.dims, (std::vector<int64_t>{l.config.hidden, 262144}));
    }
    if (t.name == "rope_freqs.weight") {
      EXPECT_EQ(t.dims, (std::vector<int64_t>{256}));
    }
  }
  for (const auto& layer : l.config.layers) {
    EXPECT_EQ(layer.n_rot, layer.sliding ? 256 : 512);
    EXPECT_DOUBLE_EQ(layer.rope_theta, layer.sliding ? 1e4 : 1e6);
  }
}

TEST(SynthPresets, E2B) {
  const Loaded l = load("e2b");
  const TextConfig& c = l.config;
  expect_common(l);
  EXPECT_EQ(c.n_layers, 35);
  EXPECT_EQ(c.hidden, 1536);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_EQ(c.context_length, 131072);
  EXPECT_EQ(c.ple_dim, 256);
  EXPECT_EQ(c.n_shared_kv_layers, 20);
  EXPECT_EQ(c.n_experts, 0);
  expect_pattern(c, 5);
  for (int i = 0; i < 35; ++i) {
    const auto& layer = c.layers[static_cast<size_t>(i)];
    EXPECT_EQ(layer.n_kv_heads, 1);
    EXPECT_EQ(layer.ffn_dim, i < 15 ? 6144 : 12288) << i;
    if (i >= 15) {
      EXPECT_EQ(layer.kv_source, layer.sliding ? 13 : 14) << i;  // §1.2: S<-13, F<-14
    }
  }
  EXPECT_EQ(c.n_kv_slots(), 15);
  EXPECT_FALSE(l.bidirectional);
  EXPECT_TRUE(l.tensors.count("blk.14.attn_k.weight"));
  EXPECT_FALSE(l.tensors.count("blk.15.attn_k.weight"));
  EXPECT_TRUE(l.tensors.count("per_layer_token_embd.weight"));
}

TEST(SynthPresets, E4B) {
  const Loaded l = load("e4b");
  const TextConfig& c = l.config;
  expect_common(l);
  EXPECT_EQ(c.n_layers, 42);
  EXPECT_EQ(c.hidden, 2560);
  EXPECT_EQ(c.n_shared_kv_layers, 18);
  expect_pattern(c, 6);
  for (int i = 0; i < 42; ++i) {
    const auto& layer = c.layers[static_cast<size_t>(i)];
    EXPECT_EQ(layer.n_kv_heads, 2);
    EXPECT_EQ(layer.ffn_dim, 10240);
    if (i >= 24) {
      EXPECT_EQ(layer.kv_source, layer.sliding ? 22 : 23) << i;  // §1.2: S<-22, F<-23
    }
  }
  EXPECT_EQ(c.n_kv_slots(), 24);
}

TEST(SynthPresets, Moe26B) {
  const Loaded l = load("26b-a4b");
  const TextConfig& c = l.config;
  expect_common(l);
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.hidden, 2816);
  EXPECT_EQ(c.n_heads, 16);
  EXPECT_EQ(c.n_experts, 128);
  EXPECT_EQ(c.n_experts_used, 8);
  EXPECT_EQ(c.expert_ffn_dim, 704);
  EXPECT_EQ(c.sliding_window, 1024);
  EXPECT_EQ(c.context_length, 262144);
  EXPECT_EQ(c.ple_dim, 0);
  expect_pattern(c, 6);
  for (const auto& layer : c.layers) {
    EXPECT_EQ(layer.n_kv_heads, layer.sliding ? 8 : 2);
    EXPECT_EQ(layer.ffn_dim, 2112);
  }
  EXPECT_EQ(c.n_kv_slots(), 30);
  EXPECT_TRUE(l.bidirectional);
  EXPECT_TRUE(l.tensors.count("blk.0.attn_v.weight"));
  EXPECT_FALSE(l.tensors.count("blk.5.attn_v.weight"));  // attention_k_eq_v on full layers
  EXPECT_TRUE(l.tensors.count("blk.29.ffn_gate_up_exps.weight"));
}

TEST(SynthPresets, Dense31B) {
  const Loaded l = load("31b");
  const TextConfig& c = l.config;
  expect_common(l);
  EXPECT_EQ(c.n_layers, 60);
  EXPECT_EQ(c.hidden, 5376);
  EXPECT_EQ(c.n_heads, 32);
  expect_pattern(c, 6);
  for (const auto& layer : c.layers) {
    EXPECT_EQ(layer.n_kv_heads, layer.sliding ? 16 : 4);
    EXPECT_EQ(layer.ffn_dim, 21504);
  }
  EXPECT_TRUE(l.bidirectional);
  // ~31B parameters (the released model's name); every tensor of the plan counted once.
  EXPECT_GT(l.plan.n_params, 30'000'000'000ull);
  EXPECT_LT(l.plan.n_params, 32'000'000'000ull);
}

TEST(SynthPresets, TinyHasEveryEFeatureAtSmallDims) {
  const Loaded l = load("tiny", quant::FileType::kMostlyF16);
  const TextConfig& c = l.config;
  EXPECT_EQ(c.n_layers, 8);
  EXPECT_EQ(c.hidden, 256);
  EXPECT_GT(c.ple_dim, 0);
  EXPECT_GT(c.n_shared_kv_layers, 0);
  EXPECT_GT(c.final_softcap, 0.0f);
  std::set<int> head_dims, ffn;
  bool has_sliding = false, has_full = false;
  for (const auto& layer : c.layers) {
    head_dims.insert(layer.head_dim);
    ffn.insert(layer.ffn_dim);
    has_sliding |= layer.sliding;
    has_full |= !layer.sliding;
  }
  EXPECT_EQ(head_dims, (std::set<int>{64, 128}));
  EXPECT_EQ(ffn.size(), 2u);  // double-wide MLP in the shared layers
  EXPECT_TRUE(has_sliding && has_full);
  EXPECT_LT(l.plan.data_bytes, 16u << 20);
}

TEST(SynthPresets, TinyMoe) {
  const Loaded l = load("tiny-moe", quant::FileType::kMostlyF16);
  EXPECT_GT(l.config.n_experts, 1);
  EXPECT_TRUE(l.bidirectional);
  bool full_without_v = false;
  for (int i = 0; i < l.config.n_layers; ++i) {
    if (!l.config.layers[static_cast<size_t>(i)].sliding) {
      full_without_v |= !l.tensors.count("blk." + std::to_string(i) + ".attn_v.weight");
    }
  }
  EXPECT_TRUE(full_without_v);
}

TEST(SynthPresets, UnknownPresetAndVocabMismatch) {
  SynthOptions o;
  o.preset = "e3b";
  auto p = plan_synth(o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("e2b"), std::string::npos);
  o.preset = "e2b";
  o.vocab_path = "/nonexistent.gguf";
  EXPECT_FALSE(plan_synth(o).ok());
}

}  // namespace
}  // namespace specula::model
