// The file recipes against llama.cpp's documented mixes (llama-quantize / llama_tensor_get_type):
// Q4_K_M "uses Q6_K for half of the attention.wv and feed_forward.w2 tensors, else Q4_K", the output
// (or tied token embedding) gets Q6_K, norms and 1-D tensors are copied, and rows that do not fit a
// 256-value super-block fall back to Q5_0 / Q5_1 / Q8_0 (or F16 when not even 32 divides them).
// The "more bits" layers of an n-layer model are i < n/8, i >= 7n/8 and (i - n/8) % 3 == 2; for 32 layers
// that is {0-3, 6, 9, 12, 15, 18, 21, 24, 27, 28-31}.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "quant/recipe.h"

namespace specula::quant {
namespace {

using T = format::GgmlType;

constexpr int64_t kDim2[] = {4096, 4096};

T type_of(FileType ft, const std::string& name, std::span<const int64_t> dims, int index = 0,
          RecipeModel model = {32, 0, 32, true}) {
  return recipe_tensor_type(ft, RecipeTensor{name, dims, index, index}, model).type;
}

TEST(QuantRecipe, ParsesLlamaQuantizeNamesAndAliases) {
  EXPECT_EQ(parse_file_type("q4_k_m").value(), FileType::kMostlyQ4_K_M);
  EXPECT_EQ(parse_file_type("Q4_K").value(), FileType::kMostlyQ4_K_M);
  EXPECT_EQ(parse_file_type("q5_k").value(), FileType::kMostlyQ5_K_M);
  EXPECT_EQ(parse_file_type("Q8_0").value(), FileType::kMostlyQ8_0);
  EXPECT_EQ(parse_file_type("bf16").value(), FileType::kMostlyBF16);
  EXPECT_EQ(static_cast<uint32_t>(parse_file_type("q4_k_m").value()), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  EXPECT_EQ(static_cast<uint32_t>(parse_file_type("q5_k_m").value()), 17u);
  EXPECT_EQ(static_cast<uint32_t>(parse_file_type("q8_0").value()), 7u);
  EXPECT_EQ(static_cast<uint32_t>(parse_file_type("f16").value()), 1u);
  EXPECT_EQ(static_cast<uint32_t>(parse_file_type("bf16").value()), 32u);
  EXPECT_EQ(static_cast<uint32_t>(parse_file_type("q6_k").value()), 18u);
  const auto bad = parse_file_type("q3_k_m");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("q4_k_m"), std::string::npos);
  EXPECT_EQ(file_type_name(FileType::kMostlyQ5_K_M), "Q5_K_M");
  EXPECT_EQ(file_type_base(FileType::kMostlyQ4_K_S), T::kQ4_K);
}

TEST(QuantRecipe, WhichTensorsAreQuantized) {
  EXPECT_TRUE(should_quantize("token_embd.weight", 2));
  EXPECT_TRUE(should_quantize("blk.0.ffn_down_exps.weight", 3));
  EXPECT_FALSE(should_quantize("blk.0.attn_norm.weight", 1));
  EXPECT_FALSE(should_quantize("blk.0.attn_norm.weight", 2));  // norms never, whatever their shape
  EXPECT_FALSE(should_quantize("rope_freqs.weight", 1));
  EXPECT_FALSE(should_quantize("blk.0.attn_q.bias", 2));
  EXPECT_FALSE(should_quantize("blk.0.ffn_gate_inp.weight", 2));
  EXPECT_FALSE(should_quantize("per_layer_model_proj.weight", 2));
  EXPECT_FALSE(should_quantize("blk.3.altup_proj.weight", 2));
  EXPECT_FALSE(should_quantize("blk.3.laurel_l.weight", 2));
  EXPECT_FALSE(should_quantize("position_embd.weight", 2));
}

TEST(QuantRecipe, Q4_K_MGivesHalfTheAttnVAndFfnDownQ6_K) {
  const std::set<int> more_bits = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
  for (int i = 0; i < 32; ++i) {
    const T want = more_bits.count(i) ? T::kQ6_K : T::kQ4_K;
    EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk." + std::to_string(i) + ".attn_v.weight", kDim2, i), want) << i;
    EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk." + std::to_string(i) + ".ffn_down.weight", kDim2, i), want) << i;
    EXPECT_EQ(type_of(FileType::kMostlyQ5_K_M, "blk." + std::to_string(i) + ".attn_v.weight", kDim2, i),
              more_bits.count(i) ? T::kQ6_K : T::kQ5_K);
  }
  for (const char* name : {"blk.5.attn_q.weight", "blk.5.attn_k.weight", "blk.5.attn_output.weight",
                           "blk.5.ffn_gate.weight", "blk.5.ffn_up.weight", "token_embd.weight"}) {
    EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, name, kDim2, 5), T::kQ4_K) << name;
  }
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "output.weight", kDim2), T::kQ6_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.5.attn_qkv.weight", kDim2, 5), T::kQ5_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ5_K_M, "blk.5.attn_qkv.weight", kDim2, 5), T::kQ6_K);
}

TEST(QuantRecipe, Q4_K_SAndQ6_K) {
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_S, "blk.3.attn_v.weight", kDim2, 3), T::kQ5_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_S, "blk.4.attn_v.weight", kDim2, 4), T::kQ4_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_S, "blk.3.ffn_down.weight", kDim2, 3), T::kQ5_K);  // i < 32/8
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_S, "blk.4.ffn_down.weight", kDim2, 4), T::kQ4_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ6_K, "blk.0.attn_v.weight", kDim2), T::kQ6_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ6_K, "output.weight", kDim2), T::kQ6_K);
}

TEST(QuantRecipe, TiedEmbeddingsGetTheOutputType) {
  const RecipeModel tied{32, 0, 32, false};
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "token_embd.weight", kDim2, 0, tied), T::kQ6_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ8_0, "token_embd.weight", kDim2, 0, tied), T::kQ8_0);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_0, "token_embd.weight", kDim2, 0, tied), T::kQ6_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_0, "per_layer_token_embd.weight", kDim2, 0, tied), T::kQ4_0);
}

TEST(QuantRecipe, RowLengthFallbacks) {
  const int64_t rows32[] = {1376, 64};  // 43 blocks of 32, not a multiple of 256
  const int64_t rows48[] = {48, 64};    // not even a multiple of 32
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.5.attn_q.weight", rows32, 5), T::kQ5_0);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.0.attn_v.weight", rows32, 0), T::kQ8_0);  // Q6_K -> Q8_0
  EXPECT_EQ(type_of(FileType::kMostlyQ5_K_M, "blk.5.attn_q.weight", rows32, 5), T::kQ5_1);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "output.weight", rows32), T::kQ8_0);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.5.attn_q.weight", rows48, 5), T::kF16);
  EXPECT_EQ(type_of(FileType::kMostlyQ8_0, "blk.5.attn_q.weight", rows48, 5), T::kF16);
  EXPECT_EQ(type_of(FileType::kMostlyQ8_0, "blk.5.attn_q.weight", rows32, 5), T::kQ8_0);
  EXPECT_TRUE(recipe_tensor_type(FileType::kMostlyQ4_K_M, {"blk.5.attn_q.weight", rows32, 5, 5}, {32, 0, 32, true})
                  .fallback);
  // Float recipes have no block constraint.
  EXPECT_EQ(type_of(FileType::kMostlyF16, "blk.5.attn_q.weight", rows48, 5), T::kF16);
  EXPECT_EQ(type_of(FileType::kMostlyBF16, "output.weight", rows48), T::kBF16);
}

TEST(QuantRecipe, EightExpertRulesAndPure) {
  const RecipeModel moe8{32, 8, 32, true};
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.9.attn_v.weight", kDim2, 9, moe8), T::kQ8_0);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.9.attn_k.weight", kDim2, 9, moe8), T::kQ8_0);
  EXPECT_EQ(type_of(FileType::kMostlyQ4_K_M, "blk.9.attn_output.weight", kDim2, 9, moe8), T::kQ5_K);
  EXPECT_EQ(type_of(FileType::kMostlyQ5_K_M, "blk.9.attn_output.weight", kDim2, 9, moe8), T::kQ5_K);
  const RecipeModel dense{32, 0, 32, true};
  EXPECT_EQ(recipe_tensor_type(FileType::kMostlyQ4_K_M, {"output.weight", kDim2, 0, 0}, dense, true).type, T::kQ4_K);
  EXPECT_EQ(recipe_tensor_type(FileType::kMostlyQ4_K_M, {"blk.0.attn_v.weight", kDim2, 0, 0}, dense, true).type,
            T::kQ4_K);
}

std::vector<PlanTensor> gemma_like_model() {
  // 8 layers, the last two without attn_v (KV shared), plus norms, a 1-D scale and tied embeddings.
  std::vector<PlanTensor> t;
  t.push_back({"rope_freqs.weight", {16}, T::kF32});
  t.push_back({"token_embd.weight", {256, 512}, T::kF32});
  for (int i = 0; i < 8; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    t.push_back({p + "attn_norm.weight", {256}, T::kF32});
    t.push_back({p + "attn_q.weight", {256, 256}, T::kF16});
    if (i < 6) t.push_back({p + "attn_v.weight", {256, 128}, T::kF32});
    t.push_back({p + "ffn_down.weight", {512, 256}, T::kF32});
    t.push_back({p + "layer_output_scale.weight", {1}, T::kF32});
  }
  std::sort(t.begin(), t.end(), [](const PlanTensor& a, const PlanTensor& b) { return llama_tensor_order(a.name, b.name); });
  return t;
}

TEST(QuantRecipe, PlanCountsAttnVAndFfnDownInProcessingOrder) {
  const auto tensors = gemma_like_model();
  const auto plan = plan_file(FileType::kMostlyQ4_K_M, tensors, 8, 0);
  ASSERT_EQ(plan.size(), tensors.size());
  // n_attn_v = 6: more bits for attn_v indices {2, 5} (6/8 = 0, 7*6/8 = 5); ffn_down uses n_layers = 8:
  // {0, 3, 6, 7} (8/8 = 1, 7*8/8 = 7, (i - 1) % 3 == 2).
  const std::set<std::string> q6 = {"blk.2.attn_v.weight",   "blk.5.attn_v.weight",   "blk.0.ffn_down.weight",
                                    "blk.3.ffn_down.weight", "blk.6.ffn_down.weight", "blk.7.ffn_down.weight",
                                    "token_embd.weight"};
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& name = tensors[i].name;
    if (tensors[i].dims.size() < 2 || name.find("norm") != std::string::npos) {
      EXPECT_FALSE(plan[i].quantized) << name;
      EXPECT_EQ(plan[i].type, tensors[i].type) << name;
    } else {
      EXPECT_TRUE(plan[i].quantized) << name;
      EXPECT_EQ(plan[i].type, q6.count(name) ? T::kQ6_K : T::kQ4_K) << name;
    }
  }
}

TEST(QuantRecipe, MoeFfnDownLayerComesFromTheName) {
  std::vector<PlanTensor> t;
  for (int i = 0; i < 8; ++i) {
    t.push_back({"blk." + std::to_string(i) + ".ffn_down.weight", {256, 256}, T::kF32});
    t.push_back({"blk." + std::to_string(i) + ".ffn_down_exps.weight", {256, 256, 4}, T::kF32});
  }
  const auto plan = plan_file(FileType::kMostlyQ4_K_M, t, 8, 4);
  for (size_t i = 0; i < t.size(); ++i) {
    const int layer = static_cast<int>(i / 2);
    const bool more = layer == 0 || layer == 3 || layer == 6 || layer == 7;
    EXPECT_EQ(plan[i].type, more ? T::kQ6_K : T::kQ4_K) << t[i].name;
  }
}

TEST(QuantRecipe, ProcessingOrder) {
  EXPECT_TRUE(llama_tensor_order("token_embd.weight", "blk.0.attn_q.weight"));
  EXPECT_TRUE(llama_tensor_order("blk.2.ffn_up.weight", "blk.10.attn_q.weight"));
  EXPECT_TRUE(llama_tensor_order("blk.1.attn_k.weight", "blk.1.attn_q.weight"));
  EXPECT_FALSE(llama_tensor_order("output.weight", "output.weight"));
  EXPECT_TRUE(llama_tensor_order("output.weight", "token_embd.weight"));
}

}  // namespace
}  // namespace specula::quant
