// The HF -> GGUF name table against gemma4-spec.md §5.2 (names typed in by hand from the spec), and the
// tensor inventory against the tensor counts of llama.cpp's files (fixtures' meta.json / GGUF headers).
#include <gtest/gtest.h>

#include "base/mapped_file.h"
#include "model/convert/hf_config.h"
#include "model/convert/tensor_table.h"
#include "test_paths.h"

namespace specula::model {
namespace {

TEST(TensorTable, SpecNames) {
  const std::pair<const char*, const char*> kCases[] = {
      {"embed_tokens.weight", "token_embd.weight"},
      {"norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"embed_tokens_per_layer.weight", "per_layer_token_embd.weight"},
      {"per_layer_model_projection.weight", "per_layer_model_proj.weight"},
      {"per_layer_projection_norm.weight", "per_layer_proj_norm.weight"},
      {"layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
      {"layers.7.self_attn.q_proj.weight", "blk.7.attn_q.weight"},
      {"layers.7.self_attn.k_proj.weight", "blk.7.attn_k.weight"},
      {"layers.7.self_attn.v_proj.weight", "blk.7.attn_v.weight"},
      {"layers.7.self_attn.o_proj.weight", "blk.7.attn_output.weight"},
      {"layers.7.self_attn.q_norm.weight", "blk.7.attn_q_norm.weight"},
      {"layers.7.self_attn.k_norm.weight", "blk.7.attn_k_norm.weight"},
      {"layers.12.post_attention_layernorm.weight", "blk.12.post_attention_norm.weight"},
      {"layers.12.pre_feedforward_layernorm.weight", "blk.12.ffn_norm.weight"},
      {"layers.12.mlp.gate_proj.weight", "blk.12.ffn_gate.weight"},
      {"layers.12.mlp.up_proj.weight", "blk.12.ffn_up.weight"},
      {"layers.12.mlp.down_proj.weight", "blk.12.ffn_down.weight"},
      {"layers.12.post_feedforward_layernorm.weight", "blk.12.post_ffw_norm.weight"},
      {"layers.3.post_feedforward_layernorm_1.weight", "blk.3.post_ffw_norm_1.weight"},
      {"layers.3.post_feedforward_layernorm_2.weight", "blk.3.post_ffw_norm_2.weight"},
      {"layers.3.pre_feedforward_layernorm_2.weight", "blk.3.pre_ffw_norm_2.weight"},
      {"layers.3.router.proj.weight", "blk.3.ffn_gate_inp.weight"},
      {"layers.3.router.scale", "blk.3.ffn_gate_inp.scale"},
      {"layers.3.router.per_expert_scale", "blk.3.ffn_down_exps.scale"},
      {"layers.3.experts.gate_up_proj", "blk.3.ffn_gate_up_exps.weight"},
      {"layers.3.experts.down_proj", "blk.3.ffn_down_exps.weight"},
      {"layers.34.per_layer_input_gate.weight", "blk.34.inp_gate.weight"},
      {"layers.34.per_layer_projection.weight", "blk.34.proj.weight"},
      {"layers.34.post_per_layer_input_norm.weight", "blk.34.post_norm.weight"},
      {"layers.34.layer_scalar", "blk.34.layer_output_scale.weight"},
  };
  for (const auto& [hf, gguf] : kCases) {
    const auto got = gguf_name_for_hf(hf);
    ASSERT_TRUE(got.has_value()) << hf;
    EXPECT_EQ(*got, gguf) << hf;
  }
  for (const char* bad : {"layers.x.self_attn.q_proj.weight", "layers.3.self_attn.q_proj", "layers..mlp.up_proj.weight",
                          "layers.-1.mlp.up_proj.weight", "vision_tower.foo.weight", "layers.3.mlp.up_proj.weight.x"}) {
    EXPECT_FALSE(gguf_name_for_hf(bad).has_value()) << bad;
  }
}

TEST(TensorTable, ConverterF32Rule) {
  EXPECT_TRUE(converter_keeps_f32("rope_freqs.weight", 1));
  EXPECT_TRUE(converter_keeps_f32("blk.0.attn_q_norm.weight", 1));
  EXPECT_TRUE(converter_keeps_f32("blk.0.ffn_gate_inp.weight", 2));
  EXPECT_TRUE(converter_keeps_f32("blk.0.ffn_gate_inp.scale", 1));
  EXPECT_FALSE(converter_keeps_f32("blk.0.ffn_gate_up_exps.weight", 3));
  EXPECT_FALSE(converter_keeps_f32("per_layer_model_proj.weight", 2));
}

size_t specs_for(const std::string& fixture) {
  auto text = read_file(test::shared_dir() + "/fixtures/llamacpp/" + fixture + "/hf/config.json");
  auto c = parse_hf_config(text.value(), fixture);
  EXPECT_TRUE(c.ok());
  return gemma4_tensor_specs(c->hparams).size();
}

TEST(TensorTable, InventoryCountsMatchLlamaCpp) {
  EXPECT_EQ(specs_for("text_e"), 130u);  // GGUF.tensor_count of llamacpp-f32.gguf
  EXPECT_EQ(specs_for("text_moe"), 89u);
}

TEST(TensorTable, KvSharedAndKeqvLayersLackTensors) {
  auto text = read_file(test::shared_dir() + "/fixtures/llamacpp/text_moe/hf/config.json");
  auto c = parse_hf_config(text.value(), "text_moe");
  ASSERT_TRUE(c.ok());
  std::set<std::string> names;
  for (const auto& s : gemma4_tensor_specs(c->hparams)) names.insert(s.name);
  EXPECT_TRUE(names.count("blk.0.attn_v.weight"));
  EXPECT_FALSE(names.count("blk.1.attn_v.weight"));  // full layer with attention_k_eq_v
  EXPECT_TRUE(names.count("blk.1.attn_k.weight"));
  EXPECT_FALSE(names.count("output.weight"));  // tied
}

}  // namespace
}  // namespace specula::model
