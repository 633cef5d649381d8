// What a Gemma 4 vision mmproj GGUF holds (gemma4-spec.md §2, §5.4), as llama.cpp's converter writes it
// (Gemma4VisionAudioModel, `convert_hf_to_gguf.py --mmproj`): the hyperparameters, the clip.* metadata keys in
// its order and value types, every tensor with its HF source name and shape, and the tensor-type rules of its
// --outtype. Shared by `convert --mmproj` (from an HF Gemma4ForConditionalGeneration folder) and `synth`
// (the *-mmproj presets), so both write files interchangeable with llama.cpp's.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "format/ggml_type.h"
#include "format/gguf_writer.h"
#include "model/convert/tensor_table.h"
#include "quant/recipe.h"

namespace specula::model {

struct MmprojHparams {
  int hidden = 0;          // D = vision_config.hidden_size
  int intermediate = 0;    // vision MLP width
  int n_layers = 0;
  int n_heads = 0;         // head dim = hidden / n_heads (the GGUF has no head_dim key)
  int patch_size = 16;
  int n_positions = 0;     // position_embedding_size: rows of each of the two position tables
  int text_hidden = 0;     // projection_dim: the text model's hidden size
  int image_size = 224;    // clip.vision.image_size: a dummy value llama.cpp's converter sets
  float eps = 1e-6f;       // clip.vision.attention.layer_norm_epsilon
  bool clipped = false;    // use_clipped_linears: 4 clamp scalars per linear (E2B/E4B)
  bool standardize = false;  // std_bias / std_scale (26B/31B)
  std::array<float, 3> image_mean{0.0f, 0.0f, 0.0f};
  std::array<float, 3> image_std{1.0f, 1.0f, 1.0f};

  int head_dim() const { return n_heads > 0 ? hidden / n_heads : 0; }
};

// Every field and their relations (hidden = heads x a head dim divisible by 4, as the 2-D RoPE needs); all
// problems in one kInvalidArgument error.
Status validate_mmproj_hparams(const MmprojHparams& h, const std::string& where);

// The general.* and clip.* keys in llama.cpp's order and value types, ending with general.quantization_version.
// size_label: general.size_label (see mmproj_size_label); empty = not written.
Status add_mmproj_metadata(const MmprojHparams& h, const std::string& model_name, const std::string& size_label,
                           quant::FileType file_type, format::GgufWriter& w);

// llama.cpp's parameter-count label (gguf-py's model_weight_count_rounded_notation, 2 significant digits
// at least): 66100 -> "66K", 428000000 -> "428M".
std::string mmproj_size_label(uint64_t n_params);

// One tensor of the file: GGUF spec (hf_name = the full HF name in transformers' layout, with ClippableLinear
// weights at `<module>.linear.weight`) and the HF shape (PyTorch order; [] for the clamp scalars, [D, p*p*3]
// for the patch embedding that llama.cpp reshapes to a conv kernel).
struct MmprojTensor {
  TensorSpec spec;
  std::vector<int64_t> hf_shape;
};

// Every tensor, sorted by HF name (the order llama.cpp's converter meets them in one safetensors file).
std::vector<MmprojTensor> mmproj_tensors(const MmprojHparams& h);

inline constexpr const char* kPatchEmbdName = "v.patch_embd.weight";
inline constexpr const char* kPositionEmbdName = "v.position_embd.weight";

// A one-line summary of the vision tower an mmproj file holds, as specula loads it (model::VisionModel): width,
// layers, heads x head dim, MLP, patch, positions, projection width, clamps / standardization, and the facts the
// format cannot carry (pooling 3x3, RoPE theta 100). Errors: those of VisionModel::load (not an mmproj, an
// unsupported projector, missing or mis-shaped tensors).
Result<std::string> describe_mmproj(const std::string& path);

// Whether file_type is one llama.cpp's converter can write an mmproj as (f32, f16, bf16, q8_0).
bool mmproj_file_type_supported(quant::FileType file_type);

// The ggml type llama.cpp's converter gives a tensor for --outtype file_type: the patch kernel is F16 for f16
// and F32 otherwise; the position table, 1-D tensors (norms, clamp scalars, std_bias/std_scale) and names not
// ending in ".weight" stay F32; other matrices get the file type (q8_0 falls back to F16 where a row is not a
// multiple of 32 values).
format::GgmlType mmproj_tensor_type(quant::FileType file_type, const TensorSpec& spec);

}  // namespace specula::model
