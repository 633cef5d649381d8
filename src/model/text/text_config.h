// Validated dimensions and per-layer structure of a text decoder, read from GGUF metadata.
// Supported architectures: gemma4 (every feature of the released E2B/E4B/26B-A4B/31B checkpoints),
// gemma3, llama. Derived facts (KV source layer, head counts per layer) are computed once here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "format/gguf_reader.h"

namespace specula::model {

enum class TextArch { kGemma4, kGemma3, kLlama };
const char* text_arch_name(TextArch arch);

// RoPE flavours: NeoX pairs (j, j + d/2) for the Gemma family; interleaved pairs (2j, 2j+1) for llama.
enum class RopeStyle { kNeox, kInterleaved };

struct LayerSpec {
  bool sliding = false;   // sliding-window attention layer
  int head_dim = 0;       // d of this layer (query and key/value)
  int n_kv_heads = 0;
  int ffn_dim = 0;        // dense MLP width of this layer
  int kv_source = 0;      // the layer whose K/V this layer attends to (itself when it owns KV)
  int kv_slot = -1;       // index among KV-owning layers, -1 for layers that share another's KV
  bool k_eq_v = false;    // V = v_norm(raw K projection) (no attn_v tensor)
  int n_rot = 0;          // rotated dims of the head vector (RoPE)
  double rope_theta = 0;
  bool rope_freq_factors = false;  // use the rope_freqs tensor (gemma4 full layers)

  bool owns_kv() const { return kv_slot >= 0; }
};

struct TextConfig {
  TextArch arch = TextArch::kGemma4;
  int n_layers = 0;
  int hidden = 0;
  int n_heads = 0;
  int vocab = 0;
  int context_length = 0;
  float rms_eps = 1e-6f;
  int sliding_window = 0;        // W: a sliding-layer query at q sees keys q-W+1 .. q
  int n_shared_kv_layers = 0;
  float final_softcap = 0.0f;    // 0 = none
  float attn_scale = 1.0f;       // q·k scale (1.0 for Gemma 4)
  float embed_scale = 1.0f;      // token embedding multiplier
  int ple_dim = 0;               // per-layer embedding width (0 = no PLE)
  int n_experts = 0;             // MoE (0 = dense only)
  int n_experts_used = 0;
  int expert_ffn_dim = 0;
  RopeStyle rope_style = RopeStyle::kNeox;
  // Image soft tokens of one block attend to each other on sliding layers during prefill (gemma4-spec.md
  // §1.12: the 26B/31B "vision" models; full layers and decode stay causal). From specula's key
  // gemma4.attention.bidirectional_vision; llama.cpp's files lack it, and the caller decides from the vision
  // tower (TextModel::set_bidirectional_images).
  bool bidirectional_images = false;
  std::vector<LayerSpec> layers;

  int n_kv_slots() const;        // number of KV-owning layers
  int max_head_dim() const;
  int max_ffn_dim() const;
  // The last KV-owning layer of the given kind (the MTP drafter reads it), -1 if none.
  int last_owner(bool sliding) const;
};

// Reads and cross-checks the metadata of general.architecture. `vocab` comes from the embedding tensor.
Result<TextConfig> read_text_config(const format::GgufFile& file);

}  // namespace specula::model
