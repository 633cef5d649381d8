// Which ggml type each tensor gets for a requested file type, and the order tensors are written in.
// F32/F16/BF16 follow llama.cpp's converter (1-D tensors, norms, the MoE router and *.scale stay F32);
// quantized mixes (Q8_0, Q4_K_M, ...) are what llama-quantize makes of the converter's F16 output
// (quant/recipe.h), so `convert --type q4_k_m` equals `convert_hf_to_gguf --outtype f16` + `llama-quantize`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "format/ggml_type.h"
#include "quant/recipe.h"

namespace specula::model {

struct NamedShape {
  std::string name;           // GGUF name
  std::vector<int64_t> dims;  // ggml ne order
};

struct TypePlan {
  std::vector<format::GgmlType> types;  // per input tensor, same indexing as the input
  std::vector<size_t> order;            // write order: indices into the input
};

// tensors: in the converter's order. n_layers / n_experts: block_count / expert_count (0 = dense).
TypePlan plan_tensor_types(quant::FileType file_type, std::span<const NamedShape> tensors, int n_layers, int n_experts);


}  // namespace specula::model
