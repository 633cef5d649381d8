// The one table of Gemma 4 text tensor names: HF (safetensors, model prefix stripped) <-> llama.cpp GGUF
// (gemma4-spec.md §5.2), and the full list of tensors a Gemma4Hparams implies, with ggml shapes. Used by
// `convert` (to map and check HF tensors) and `synth` (to generate them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/convert/gemma4_hparams.h"

namespace specula::model {

// What a tensor is, for initialization (synth) and for messages.
enum class TensorKind {
  kMatrix,       // a weight matrix or stack of matrices (>= 2-D)
  kEmbedding,    // token_embd / per_layer_token_embd (>= 2-D, row = one token)
  kNorm,         // 1-D RMSNorm weight or 1-D scale vector (router scale, per-expert scale)
  kLayerScalar,  // layer_output_scale [1]
  kRopeFreqs,    // generated: [1]*n_rot_pairs + [1e30]*rest
};

struct TensorSpec {
  std::string name;     // GGUF name, e.g. "blk.3.attn_q.weight"
  std::string hf_name;  // HF name without the model prefix, e.g. "layers.3.self_attn.q_proj.weight"; "" if generated
  std::vector<int64_t> dims;  // ggml ne order (dims[0] contiguous) = the HF shape reversed
  TensorKind kind = TensorKind::kMatrix;
  int layer = -1;  // block index, -1 for global tensors

  int64_t n_elements() const;
};

// Every tensor of the model, in llama.cpp converter order: the generated rope_freqs first, then the HF
// tensors sorted by HF name (the order of a single safetensors file).
std::vector<TensorSpec> gemma4_tensor_specs(const Gemma4Hparams& h);

// The GGUF name of an HF tensor name (prefix stripped) per the table, or nullopt for a name outside it.
std::optional<std::string> gguf_name_for_hf(std::string_view hf_name);

// The tensor type llama.cpp's converter forces to F32 whatever --outtype says: 1-D tensors, *_norm.weight,
// the MoE router ffn_gate_inp.weight and every name not ending in ".weight" (the .scale vectors).
bool converter_keeps_f32(std::string_view gguf_name, size_t n_dims);

}  // namespace specula::model
