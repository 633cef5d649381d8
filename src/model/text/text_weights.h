// Typed views of a text decoder's weights inside the (mmap'd) GGUF file, bound with llama.cpp's tensor
// names (gemma4-spec.md §5.2). Matrices stay in their file type; 1-D tensors are converted to float32.
#pragma once

#include <vector>

#include "format/gguf_reader.h"
#include "kernels/matrix_view.h"
#include "model/common/tensor_binder.h"
#include "model/text/text_config.h"

namespace specula::model {

struct MoeWeights {
  kernels::MatrixView router;          // ffn_gate_inp [E rows, H cols]
  std::vector<float> router_scale;     // ffn_gate_inp.scale [H]
  std::vector<float> expert_scale;     // ffn_down_exps.scale [E]
  MatrixStack gate_up;                 // ffn_gate_up_exps: per expert [2I rows, H cols], gate rows first
  MatrixStack gate, up;                // alternatively separate ffn_gate_exps / ffn_up_exps [I rows, H cols]
  MatrixStack down;                    // ffn_down_exps: per expert [H rows, I cols]
  std::vector<float> pre_norm_2;       // pre_ffw_norm_2 [H]
  std::vector<float> post_norm_1;      // post_ffw_norm_1 [H]
  std::vector<float> post_norm_2;      // post_ffw_norm_2 [H]
  bool fused() const { return gate_up.count > 0; }
};

struct LayerWeights {
  std::vector<float> attn_norm;            // [H]
  kernels::MatrixView wq, wk, wv, wo;      // wk/wv empty in shared-KV layers; wv empty when k_eq_v
  std::vector<float> q_norm, k_norm;       // [d] (Gemma); empty for llama
  std::vector<float> post_attn_norm;       // [H] (Gemma)
  std::vector<float> ffn_norm;             // [H]
  kernels::MatrixView ffn_gate, ffn_up, ffn_down;
  std::vector<float> post_ffn_norm;        // [H] (Gemma)
  bool has_moe = false;
  MoeWeights moe;
  kernels::MatrixView ple_gate, ple_proj;  // inp_gate [P rows, H cols], proj [H rows, P cols]
  std::vector<float> ple_post_norm;        // post_norm [H]
  float output_scale = 1.0f;               // layer_output_scale (gemma4)
};

struct TextWeights {
  kernels::MatrixView token_embd;          // [V rows, H cols]
  kernels::MatrixView output;              // lm head; == token_embd when tied
  std::vector<float> output_norm;          // [H]
  std::vector<float> rope_freqs;           // frequency factors of the full layers (gemma4), may be empty
  kernels::MatrixView ple_token_embd;      // per_layer_token_embd [V rows, L*P cols]
  kernels::MatrixView ple_model_proj;      // per_layer_model_proj [L*P rows, H cols]
  std::vector<float> ple_proj_norm;        // [P]
  std::vector<LayerWeights> layers;
};

// Binds and validates every tensor the config implies. All problems are reported in one error.
Result<TextWeights> bind_text_weights(const format::GgufFile& file, const TextConfig& config);

}  // namespace specula::model
