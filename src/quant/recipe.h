// File-level quantization recipes ("Q4_K_M", "Q8_0", ...): which ggml type each tensor of a model gets,
// following llama.cpp's llama-quantize rules (llama_tensor_get_type) so that files match what users
// expect: token_embd/output get Q6_K (or Q8_0 when the row length is not a multiple of 256), attn_v and
// ffn_down of the "more bits" layers get Q6_K in the _M mixes, norms and 1-D tensors are never
// quantized, and tensors whose rows are not a multiple of the chosen block fall back to a 32-value type
// (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0) or F16. Pure functions of tensor names and shapes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "format/ggml_type.h"

namespace specula::quant {

// llama.cpp's LLAMA_FTYPE numbers, written to general.file_type (never renumber).
enum class FileType : uint32_t {
  kAllF32 = 0,
  kMostlyF16 = 1,
  kMostlyQ4_0 = 2,
  kMostlyQ4_1 = 3,
  kMostlyQ8_0 = 7,
  kMostlyQ5_0 = 8,
  kMostlyQ5_1 = 9,
  kMostlyQ4_K_S = 14,
  kMostlyQ4_K_M = 15,
  kMostlyQ5_K_S = 16,
  kMostlyQ5_K_M = 17,
  kMostlyQ6_K = 18,
  kMostlyBF16 = 32,
};

// Parses a recipe name case-insensitively: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_s, q4_k_m,
// q5_k_s, q5_k_m, q6_k; q4_k and q5_k are aliases of q4_k_m and q5_k_m (as in llama-quantize).
Result<FileType> parse_file_type(std::string_view name);
std::string_view file_type_name(FileType type);  // "Q4_K_M", "F16", ...
std::string file_type_names();                   // the accepted names, for help and error messages
format::GgmlType file_type_base(FileType type);  // the default tensor type of the mix (Q4_K for Q4_K_M)

// Whole-model facts the per-tensor rules depend on.
struct RecipeModel {
  int n_layers = 0;          // block_count
  int n_expert = 0;          // expert_count (0 for dense models)
  int n_attn_v = 0;          // tensors whose name contains attn_v.weight, attn_qkv.weight or attn_kv_b.weight
  bool has_output = false;   // an output.weight tensor exists (else token_embd doubles as the output)
};

// One tensor as the rules see it. attn_v_index / ffn_down_index: how many attn_v.weight / ffn_down
// tensors precede this one in llama.cpp's processing order (see llama_tensor_order).
struct RecipeTensor {
  std::string_view name;
  std::span<const int64_t> dims;  // ggml order: dims[0] is the row length
  int attn_v_index = 0;
  int ffn_down_index = 0;
};

// llama.cpp's filter: only tensors named *weight with >= 2 dimensions, and not norms, MoE routers,
// altup/laurel, per_layer_model_proj, position embeddings, token types, conv and RWKV-mix weights.
bool should_quantize(std::string_view name, size_t n_dims);

struct TypeChoice {
  format::GgmlType type;
  bool fallback = false;  // the rule's type did not fit the row length and a substitute was chosen
};

// The type a quantizable tensor gets under a recipe. pure: every tensor gets the base type (only the
// row-length fallback still applies).
TypeChoice recipe_tensor_type(FileType file_type, const RecipeTensor& tensor, const RecipeModel& model,
                              bool pure = false);

struct PlanTensor {
  std::string name;
  std::vector<int64_t> dims;
  format::GgmlType type = format::GgmlType::kF32;  // the tensor's current type
};

struct PlannedType {
  format::GgmlType type;    // target type (the current type when the tensor is not quantized)
  bool quantized = false;   // should_quantize held (type may still equal the current type)
  bool fallback = false;
};

// Types for a whole file. tensors must be in llama_tensor_order; n_layers and n_expert come from the
// model's metadata.
std::vector<PlannedType> plan_file(FileType file_type, std::span<const PlanTensor> tensors, int n_layers,
                                   int n_expert, bool pure = false);

// llama.cpp's processing (and output) order: by layer number of "blk.N." names (tensors without one
// first), then by name.
bool llama_tensor_order(std::string_view a, std::string_view b);

}  // namespace specula::quant
