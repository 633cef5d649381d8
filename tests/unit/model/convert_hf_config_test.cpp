// config.json parsing and validation. Expected values come from the fixtures' README (hand-copied numbers).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "model/convert/hf_config.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using nlohmann::json;

json fixture_config(const std::string& name) {
  auto text = read_file(test::shared_dir() + "/fixtures/llamacpp/" + name + "/hf/config.json");
  EXPECT_TRUE(text.ok());
  return json::parse(text.value());
}

Result<HfModelConfig> parse(const json& j) { return parse_hf_config(j.dump(), "config.json"); }

TEST(HfConfig, TextEFixture) {
  auto c = parse(fixture_config("text_e"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->tensor_prefix, "model.language_model.");
  const Gemma4Hparams& h = c->hparams;
  EXPECT_EQ(h.vocab, 416);
  EXPECT_EQ(h.hidden, 48);
  EXPECT_EQ(h.n_layers, 8);
  EXPECT_EQ(h.sliding, (std::vector<bool>{true, false, true, true, false, true, true, false}));
  EXPECT_EQ(h.n_heads, 3);
  EXPECT_EQ(h.n_kv_heads, 1);
  EXPECT_EQ(h.head_dim, 16);
  EXPECT_EQ(h.head_dim_full, 32);
  EXPECT_EQ(h.sliding_window, 5);
  EXPECT_EQ(h.n_kv_shared, 4);
  EXPECT_EQ(h.ple_dim, 8);
  EXPECT_EQ(h.ple_vocab, 416);
  EXPECT_FLOAT_EQ(h.final_softcap, 30.0f);
  EXPECT_EQ(h.n_rot_pairs_full(), 4);  // "only 4 of the 16 pairs rotate"
  EXPECT_EQ(h.layer_ffn(3), 64);
  EXPECT_EQ(h.layer_ffn(4), 128);  // double-wide in the KV-shared layers
  EXPECT_FALSE(h.moe);
  EXPECT_TRUE(h.tied_embeddings);
  EXPECT_EQ(h.bidirectional, BidirectionalMode::kNone);
}

TEST(HfConfig, TextMoeFixture) {
  auto c = parse(fixture_config("text_moe"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const Gemma4Hparams& h = c->hparams;
  EXPECT_TRUE(h.moe);
  EXPECT_EQ(h.n_experts, 5);
  EXPECT_EQ(h.n_experts_used, 3);
  EXPECT_EQ(h.expert_ffn, 16);
  EXPECT_TRUE(h.k_eq_v);
  EXPECT_EQ(h.layer_kv_heads(0), 2);
  EXPECT_EQ(h.layer_kv_heads(1), 1);  // num_global_key_value_heads
  EXPECT_TRUE(h.layer_has_v(0));
  EXPECT_FALSE(h.layer_has_v(1));  // attention_k_eq_v: no v_proj on full layers
  EXPECT_TRUE(h.kv_heads_per_layer());
}

TEST(HfConfig, CausalLmFlatConfig) {
  json flat = fixture_config("text_e")["text_config"];
  flat["architectures"] = {"Gemma4ForCausalLM"};
  auto c = parse(flat);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->tensor_prefix, "model.");
  EXPECT_EQ(c->hparams.n_layers, 8);
}

TEST(HfConfig, UnknownArchitecture) {
  json j = fixture_config("text_e");
  j["architectures"] = {"LlamaForCausalLM"};
  auto c = parse(j);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(c.error().message().find("LlamaForCausalLM"), std::string::npos) << c.error().message();
}

TEST(HfConfig, ListsEveryMissingField) {
  json j = fixture_config("text_e");
  for (const char* k : {"hidden_size", "head_dim", "layer_types", "global_head_dim"}) j["text_config"].erase(k);
  auto c = parse(j);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kInvalidArgument);
  const std::string& m = c.error().message();
  for (const char* k :
       {"text_config.hidden_size", "text_config.head_dim", "text_config.layer_types", "text_config.global_head_dim"}) {
    EXPECT_NE(m.find(k), std::string::npos) << k << " not in: " << m;
  }
}

TEST(HfConfig, InconsistentSizes) {
  json j = fixture_config("text_e");
  j["text_config"]["layer_types"].erase(0);     // 7 types for 8 layers
  j["text_config"]["num_attention_heads"] = 4;  // fine with 1 KV head
  j["text_config"]["num_key_value_heads"] = 3;  // does not divide 4
  j["text_config"]["num_kv_shared_layers"] = 8;
  auto c = parse(j);
  ASSERT_FALSE(c.ok());
  const std::string& m = c.error().message();
  EXPECT_NE(m.find("layer_types has 7 entries for 8 layers"), std::string::npos) << m;
  EXPECT_NE(m.find("does not divide"), std::string::npos) << m;
  EXPECT_NE(m.find("num_kv_shared_layers"), std::string::npos) << m;
}

TEST(HfConfig, UnsupportedValues) {
  json j = fixture_config("text_moe");
  j["text_config"]["rope_parameters"]["full_attention"]["rope_type"] = "default";
  j["text_config"]["hidden_activation"] = "silu";
  j["text_config"]["use_bidirectional_attention"] = "sometimes";
  j["text_config"].erase("num_experts");
  auto c = parse(j);
  ASSERT_FALSE(c.ok());
  const std::string& m = c.error().message();
  EXPECT_NE(m.find("proportional"), std::string::npos) << m;
  EXPECT_NE(m.find("silu"), std::string::npos) << m;
  EXPECT_NE(m.find("sometimes"), std::string::npos) << m;
  EXPECT_NE(m.find("num_experts"), std::string::npos) << m;
}

TEST(HfConfig, WrongTypesAndGarbage) {
  json j = fixture_config("text_e");
  j["text_config"]["hidden_size"] = "48";
  j["text_config"]["use_double_wide_mlp"] = 1;
  auto c = parse(j);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("hidden_size must be an integer"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("use_double_wide_mlp must be true or false"), std::string::npos);
  EXPECT_EQ(parse_hf_config("{not json", "config.json").error().code(), ErrorCode::kCorruptData);
  EXPECT_FALSE(parse_hf_config("[]", "config.json").ok());
  EXPECT_FALSE(parse(json{{"architectures", {"Gemma4ForConditionalGeneration"}}}).ok());  // no text_config
}

TEST(HfConfig, BidirectionalVision) {
  json j = fixture_config("text_moe");
  j["text_config"]["use_bidirectional_attention"] = "vision";
  auto c = parse(j);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->hparams.bidirectional, BidirectionalMode::kVision);
  j["text_config"]["use_bidirectional_attention"] = "all";
  EXPECT_EQ(parse(j).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace specula::model
