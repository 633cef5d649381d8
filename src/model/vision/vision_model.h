// The Gemma 4 vision tower + multimodal projector (gemma4-spec.md §2.3-2.5) loaded from an mmproj GGUF as
// llama.cpp's converter writes it (clip.vision.projector_type "gemma4v"), with a float32 CPU forward pass.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "kernels/matrix_view.h"

namespace specula::model {

struct VisionConfig {
  int64_t hidden = 0;          // D
  int64_t intermediate = 0;    // MLP width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t head_dim = 0;        // hidden / n_heads (a multiple of 4: 2-D RoPE)
  int64_t patch_size = 16;     // a patch vector holds patch_size^2 * 3 values in (py, px, c) order
  int64_t n_positions = 0;     // rows of each position-embedding table (x and y)
  int64_t text_hidden = 0;     // projection width (the text model's hidden size)
  int64_t pooling_kernel = 3;  // not in the GGUF: 3 for every released Gemma 4 vision tower
  float eps = 1e-6f;
  double rope_theta = 100.0;   // not in the GGUF: axial RoPE base of every released tower
  bool clipped = false;        // ClippableLinear bounds present (E2B/E4B)
  bool standardize = false;    // std_bias/std_scale present (26B/31B)

  int64_t patch_dim() const { return patch_size * patch_size * 3; }
};

// A linear layer with optional clamps of its input and output (HF Gemma4ClippableLinear).
struct ClipLinear {
  kernels::MatrixView w;
  float in_min = -std::numeric_limits<float>::infinity();
  float in_max = std::numeric_limits<float>::infinity();
  float out_min = -std::numeric_limits<float>::infinity();
  float out_max = std::numeric_limits<float>::infinity();
};

struct VisionLayer {
  std::vector<float> ln1, ln2, attn_post_norm, ffn_post_norm;  // [D]
  std::vector<float> q_norm, k_norm;                            // [head_dim]
  ClipLinear q, k, v, o, gate, up, down;
};

// Encoder output of one image. pooled: [n_tokens, D] (after x sqrt(D), before standardization);
// embeds: [n_tokens, text_hidden], the rows that replace the image's soft tokens in the text sequence.
struct VisionOutput {
  int64_t n_tokens = 0;
  std::vector<float> pooled;
  std::vector<float> embeds;
};

class VisionModel {
 public:
  // Errors: not an mmproj GGUF, an unknown projector type, missing or mis-shaped tensors, inconsistent hparams.
  static Result<std::unique_ptr<VisionModel>> load(const std::string& path);
  static Result<std::unique_ptr<VisionModel>> from_file(format::GgufFile file);

  const VisionConfig& config() const { return config_; }

  // Encodes one image's valid patches. pixels: [n_patches, patch_dim] in [0, 1], (py, px, c) order;
  // positions: [n_patches, 2] = (x = column, y = row) of each patch. The patch grid must be complete and
  // its width and height multiples of the pooling kernel. Errors: inconsistent sizes or positions.
  Result<VisionOutput> encode(ThreadPool& pool, std::span<const float> pixels, std::span<const int32_t> positions) const;

 private:
  VisionModel(format::GgufFile file) : file_(std::move(file)) {}
  Status bind();

  format::GgufFile file_;
  VisionConfig config_;
  std::vector<float> patch_w_;       // [D, patch_dim] float32, columns in (py, px, c) order
  kernels::MatrixView patch_view_;
  kernels::MatrixView pos_x_, pos_y_;  // [n_positions, D] each
  std::vector<VisionLayer> layers_;
  std::vector<float> std_bias_, std_scale_;  // [D] when standardize
  kernels::MatrixView proj_;         // [text_hidden, D]
};

}  // namespace specula::model
