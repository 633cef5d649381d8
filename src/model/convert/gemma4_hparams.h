// The hyperparameters of a Gemma 4 text decoder as the HF config states them (gemma4-spec.md §1.1), the
// per-layer facts derived from them, and their validation. Shared by `convert` (filled from config.json)
// and `synth` (filled from a preset) so that both write the same GGUF metadata and tensor set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace specula::model {

// use_bidirectional_attention: null (causal everywhere), "vision" (image blocks bidirectional on sliding
// layers) or "all" (non-causal; not used by any released checkpoint, refused by convert).
enum class BidirectionalMode { kNone, kVision, kAll };

struct Gemma4Hparams {
  int vocab = 0;                 // vocab_size (token_embd rows)
  int hidden = 0;                // hidden_size H
  int n_layers = 0;              // num_hidden_layers L
  int n_heads = 0;               // num_attention_heads (sliding and full layers alike)
  int n_kv_heads = 0;            // num_key_value_heads (sliding layers; full layers unless overridden)
  int n_kv_heads_full = 0;       // num_global_key_value_heads, 0 = null; applies only with k_eq_v (as in HF)
  int head_dim = 0;              // head_dim of sliding layers
  int head_dim_full = 0;         // global_head_dim of full-attention layers
  int ffn = 0;                   // intermediate_size (dense MLP)
  bool double_wide_mlp = false;  // use_double_wide_mlp: 2x ffn in KV-shared layers
  int context_length = 0;        // max_position_embeddings
  float rms_eps = 1e-6f;
  int sliding_window = 0;
  std::vector<bool> sliding;   // layer_types: true = sliding_attention, false = full_attention
  int n_kv_shared = 0;         // num_kv_shared_layers (the last N layers reuse earlier K/V)
  bool k_eq_v = false;         // attention_k_eq_v: full layers have no v_proj
  int ple_dim = 0;             // hidden_size_per_layer_input (0 = no per-layer embeddings)
  int ple_vocab = 0;           // vocab_size_per_layer_input (rows of per_layer_token_embd)
  float final_softcap = 0.0f;  // final_logit_softcapping, 0 = none
  double rope_theta_swa = 10000.0;
  double rope_theta_full = 1000000.0;
  double partial_rotary_full = 0.25;  // proportional RoPE of the full layers
  bool moe = false;                   // enable_moe_block
  int n_experts = 0;
  int n_experts_used = 0;       // top_k_experts
  int expert_ffn = 0;           // moe_intermediate_size
  bool tied_embeddings = true;  // tie_word_embeddings: no output.weight
  BidirectionalMode bidirectional = BidirectionalMode::kNone;

  int first_kv_shared() const { return n_layers - n_kv_shared; }
  bool kv_shared(int layer) const { return layer >= first_kv_shared(); }
  bool is_sliding(int layer) const { return sliding[static_cast<size_t>(layer)]; }
  int layer_head_dim(int layer) const { return is_sliding(layer) ? head_dim : head_dim_full; }
  int layer_kv_heads(int layer) const;
  int layer_ffn(int layer) const;
  bool layer_has_v(int layer) const { return !kv_shared(layer) && (is_sliding(layer) || !k_eq_v); }
  // Rotated pairs of the full layers' proportional RoPE; the rest of the head_dim_full/2 pairs pass through.
  int n_rot_pairs_full() const;
  // Whether llama.cpp writes feed_forward_length / head_count_kv as per-layer arrays (its converter writes
  // the ffn array whenever use_double_wide_mlp is set, even when no layer is KV-shared).
  bool ffn_per_layer() const { return double_wide_mlp; }
  bool kv_heads_per_layer() const { return k_eq_v && n_kv_heads_full > 0; }
};

// Every problem with the fields and the relations between them, one sentence each, starting with the HF
// config field it is about (e.g. "num_key_value_heads = 3 does not divide num_attention_heads = 4").
std::vector<std::string> hparams_problems(const Gemma4Hparams& h);

// All of hparams_problems in one kInvalidArgument error ("config.json: 3 problems: ..."), or ok.
Status validate_hparams(const Gemma4Hparams& h, const std::string& where);

}  // namespace specula::model
