// The hyperparameters of a Gemma 4 MTP assistant (gemma4-spec.md §3.1) and what its GGUF holds: llama.cpp's
// gemma4-assistant metadata keys (in its converter's order) and tensor names (§5.3), plus the centroid head
// tensors (masked_embd_centroids / masked_embd_ordering) that llama.cpp's converter drops but specula keeps.
// Shared by `convert` (from an HF Gemma4AssistantForCausalLM folder) and `synth` (assistant presets).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "format/gguf_writer.h"
#include "model/convert/tensor_table.h"
#include "quant/recipe.h"

namespace specula::model {

struct AssistantHparams {
  int vocab = 0;              // text_config.vocab_size (the tied head's rows)
  int hidden = 0;             // Ha = text_config.hidden_size
  int backbone = 0;           // Hb = backbone_hidden_size (the target's hidden size)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;         // of sliding layers (= the target's sliding source layer)
  int n_kv_heads_full = 0;    // of full layers; 0 = n_kv_heads
  int head_dim = 0;           // sliding layers
  int head_dim_full = 0;      // full layers (global_head_dim)
  int ffn = 0;
  int context_length = 0;
  int sliding_window = 0;     // W_a
  float rms_eps = 1e-6f;
  std::vector<bool> sliding;  // layer_types: true = sliding_attention
  double rope_theta_swa = 10000.0;
  double rope_theta_full = 1000000.0;
  double partial_rotary_full = 0.25;
  int n_centroids = 0;        // masked (ordered) head: num_centroids; 0 = dense tied head only
  int centroid_top_k = 32;    // centroid_intermediate_top_k

  bool is_sliding(int layer) const { return sliding[static_cast<size_t>(layer)]; }
  int layer_head_dim(int layer) const { return is_sliding(layer) ? head_dim : head_dim_full; }
  int layer_kv_heads(int layer) const {
    return is_sliding(layer) || n_kv_heads_full == 0 ? n_kv_heads : n_kv_heads_full;
  }
  int n_rot_pairs_full() const { return static_cast<int>(static_cast<double>(head_dim_full) * partial_rotary_full / 2.0); }
};

// Every field and their relations; all problems in one kInvalidArgument error.
Status validate_assistant_hparams(const AssistantHparams& h, const std::string& where);

// general.* and gemma4-assistant.* keys, ending with general.quantization_version (plus specula's centroid_top_k
// when the centroid head is present).
Status add_assistant_metadata(const AssistantHparams& h, const std::string& model_name, quant::FileType file_type,
                              format::GgufWriter& w);

// Every tensor, in llama.cpp converter order (rope_freqs first, then by HF name). The ordering tensor
// (kOrderingTensorName) holds token ids and is written as I32 whatever the file type.
std::vector<TensorSpec> assistant_tensor_specs(const AssistantHparams& h);

inline constexpr const char* kOrderingTensorName = "masked_embd_ordering";

}  // namespace specula::model
