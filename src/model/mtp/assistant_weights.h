// Typed views of an MTP assistant's weights inside its (mmap'd) GGUF, bound with llama.cpp's names
// (gemma4-spec.md §5.3). Matrices stay in their file type; 1-D tensors are converted to float32.
#pragma once

#include <cstdint>
#include <vector>

#include "format/gguf_reader.h"
#include "kernels/matrix_view.h"
#include "model/mtp/assistant_config.h"

namespace specula::model {

inline constexpr const char* kCentroidsTensor = "masked_embd_centroids.weight";
inline constexpr const char* kOrderingTensor = "masked_embd_ordering";

struct AssistantLayerWeights {
  std::vector<float> attn_norm;        // [Ha]
  kernels::MatrixView wq;              // [Hq*d rows, Ha cols]
  std::vector<float> q_norm;           // [d]
  kernels::MatrixView wo;              // [Ha rows, Hq*d cols]
  std::vector<float> post_attn_norm;   // [Ha]
  std::vector<float> ffn_norm;         // [Ha]
  kernels::MatrixView ffn_gate, ffn_up, ffn_down;
  std::vector<float> post_ffn_norm;    // [Ha]
  float output_scale = 1.0f;           // layer_output_scale
};

// The masked (ordered) head of the E2B/E4B assistants (§3.6): centroid scores pick top_k clusters, each a
// fixed block of vocab / n_centroids token ids from `ordering`.
struct CentroidHead {
  kernels::MatrixView centroids;  // [n_centroids rows, Ha cols]
  std::vector<int32_t> ordering;  // [vocab]: a permutation of the token ids
  int n_centroids() const { return static_cast<int>(centroids.rows); }
};

struct AssistantWeights {
  kernels::MatrixView token_embd;      // [V rows, Ha cols]: the tied LM head (never an input embedding)
  std::vector<float> output_norm;      // [Ha]
  std::vector<float> rope_freqs;       // full-layer frequency factors, may be empty
  kernels::MatrixView pre_projection;  // nextn.pre_projection [Ha rows, 2*Hb cols]
  kernels::MatrixView post_projection; // nextn.post_projection [Hb rows, Ha cols]
  std::vector<AssistantLayerWeights> layers;
  bool has_centroids = false;
  CentroidHead centroid_head;
};

// Binds and validates every tensor; all problems are reported in one error. Sets config.vocab.
Result<AssistantWeights> bind_assistant_weights(const format::GgufFile& file, AssistantConfig& config);

}  // namespace specula::model
