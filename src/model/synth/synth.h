// `specula synth`: a GGUF with random weights and the exact shapes, metadata and tensor types of a preset
// (released Gemma 4 models or small test models), with llama.cpp's names. Weights are "realistically
// scaled" so that activations stay finite and non-degenerate: matrices U(-a, a) with variance 1/cols
// (per_layer_token_embd: 1/ple_dim, so that its x sqrt(ple_dim) scale gives unit size), 1-D norms and
// scales U(0.5, 1.5), layer_output_scale U(0.7, 1.3), and llama.cpp's rope_freqs. Values are a pure
// function of (seed, tensor name, element index): the file is identical for any thread count.
// K-quant tensors of more than kSynthPooledElements values (the big presets' matrices) are assembled from a
// per-tensor pool of (up to) kSynthPoolBlocks blocks, each the reference quantization of fresh random values, picked
// per block by a hash: the same distribution as quantizing every value, at a small fraction of the
// quantizer's cost (E2B at Q4_K_M in seconds instead of minutes on 2 cores).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "format/gguf_writer.h"
#include "model/convert/tensor_table.h"
#include "model/convert/type_plan.h"
#include "model/synth/presets.h"
#include "quant/recipe.h"

namespace specula::model {

inline constexpr int64_t kSynthPooledElements = int64_t{1} << 22;
inline constexpr int64_t kSynthPoolBlocks = 2048;

struct SynthOptions {
  std::string preset = "tiny";
  quant::FileType file_type = quant::FileType::kMostlyF16;
  uint64_t seed = 0;
  std::string vocab_path;  // a GGUF whose tokenizer.* keys to copy (its vocab size must match the preset's)
  int64_t pooled_min_elements = kSynthPooledElements;  // K-quant tensors larger than this use the block pool
  std::function<void(size_t, size_t, const std::string&, format::GgmlType)> on_tensor;  // may be empty
};

// Everything about the file except the weights: metadata, tensors with their types, in write order.
struct SynthPlan {
  SynthPreset preset;
  format::GgufWriter metadata;
  std::vector<TensorSpec> tensors;      // in write order
  std::vector<format::GgmlType> types;  // per entry of `tensors`
  uint64_t data_bytes = 0;              // tensor bytes (without alignment padding)
  uint64_t n_params = 0;
};

// Errors: unknown preset, unreadable or mismatched --vocab file.
Result<SynthPlan> plan_synth(const SynthOptions& options);

// The metadata-only GGUF bytes of a plan (no tensors): what `synth --dry-run` writes.
std::vector<uint8_t> synth_metadata_bytes(const SynthPlan& plan);

// Writes the model to out_path. Errors: kIo, and those of plan_synth.
Status synth_model(const SynthOptions& options, const std::string& out_path, ThreadPool& pool);

// The values of one tensor: element i is a pure function of (seed, name, i).
class SynthSampler {
 public:
  // ple_dim, n_rot_pairs_full: of the model (per_layer_token_embd scale, rope_freqs).
  SynthSampler(uint64_t seed, const TensorSpec& spec, int ple_dim, int n_rot_pairs_full);
  // out[k] = element first + k, for k < n. Indices past the tensor's size give further independent values.
  void fill(int64_t first, int64_t n, float* out) const;
  // An independent 64-bit hash of `index` (for choosing pooled blocks).
  uint64_t hash(int64_t index) const;

 private:
  TensorKind kind_;
  uint64_t key_ = 0;
  bool symmetric_ = false;  // U(-scale, scale) instead of offset + scale * U(0, 1)
  float offset_ = 0.0f, scale_ = 1.0f;
  int n_rot_pairs_ = 0;
};

}  // namespace specula::model
