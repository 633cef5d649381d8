// Validated hyperparameters of a Gemma 4 MTP assistant (drafter) GGUF, `general.architecture =
// "gemma4-assistant"` (gemma4-spec.md §3.1, §5.3), and the check that it can draft for a given target.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "format/gguf_reader.h"
#include "model/text/text_config.h"

namespace specula::model {

inline constexpr const char* kAssistantArch = "gemma4-assistant";
// specula's own optional key: how many centroids the masked (ordered) head keeps (HF
// `centroid_intermediate_top_k`, default 32). llama.cpp's converter writes no key for the centroid head.
inline constexpr const char* kAssistantCentroidTopKKey = "gemma4-assistant.centroid_top_k";
inline constexpr int kDefaultCentroidTopK = 32;

struct AssistantLayerSpec {
  bool sliding = false;  // reads the target's last KV-owning sliding layer (else its last full layer)
  int head_dim = 0;
  int n_kv_heads = 0;    // must equal the source layer's
  int ffn_dim = 0;
  int n_rot = 0;
  double rope_theta = 0;
  bool rope_freq_factors = false;  // full layers use the rope_freqs tensor
};

struct AssistantConfig {
  int n_layers = 0;
  int hidden = 0;           // Ha (embedding_length)
  int backbone = 0;         // Hb (embedding_length_out) = the target's hidden size
  int n_heads = 0;
  int vocab = 0;            // rows of the assistant's token_embd (its tied LM head); set by the weight binder
  float rms_eps = 1e-6f;
  int sliding_window = 0;   // W_a: a sliding layer sees the last W_a + 1 committed entries (§3.3)
  int centroid_top_k = kDefaultCentroidTopK;
  std::vector<AssistantLayerSpec> layers;

  int max_head_dim() const;
  int max_ffn_dim() const;
  bool uses(bool sliding) const;  // whether any layer reads that attention type
};

// Reads and cross-checks the gemma4-assistant metadata. Errors: kUnsupported for another architecture,
// kCorruptData for missing or inconsistent keys.
Result<AssistantConfig> read_assistant_config(const format::GgufFile& file);

// The drafter reads the target's token embedding (backbone width), its final-norm hidden states and the K/V of
// its last KV-owning sliding and full layers. Errors (kInvalidArgument) name both values, e.g. "the assistant's
// backbone width (embedding_length_out) is 48 but the target's hidden size is 64".
Status check_assistant_compatible(const AssistantConfig& a, const TextConfig& target, int target_vocab);

}  // namespace specula::model
