// `specula convert --mmproj`: the vision tower and projector of an HF Gemma4ForConditionalGeneration folder ->
// a separate mmproj GGUF (clip.vision.projector_type "gemma4v") with the keys, value types, tensor names,
// shapes, types and order of llama.cpp's converter (`convert_hf_to_gguf.py --mmproj`, Gemma4VisionAudioModel),
// written tensor by tensor. Differences from llama.cpp, all deliberate:
//   * general.name defaults to the folder's name as given ("hf"), as `specula convert` does for text models;
//   * the norm epsilon comes from vision_config.layer_norm_eps, else rms_norm_eps, else 1e-6 (llama.cpp reads
//     only layer_norm_eps, which Gemma 4 configs do not have, so it always writes 1e-6: equal for every released
//     model);
//   * an audio tower (E2B/E4B checkpoints) is left out: the file is vision only (noted in the summary);
//   * without image_mean/image_std in (pre)processor_config.json the Gemma 4 values 0/1 are written (noted).
#pragma once

#include <string>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/convert/converter.h"
#include "model/convert/mmproj_gguf.h"

namespace specula::model {

// Reads config.json text (and `notes` gets what cannot be represented, e.g. a pooling kernel other than 3).
// Errors: kCorruptData (not JSON), kInvalidArgument (no vision_config, missing or invalid fields: all listed),
// kUnsupported (a head_dim other than hidden/heads, or KV heads other than the query heads).
Result<MmprojHparams> parse_mmproj_config(const std::string& json_text, const std::string& where,
                                          std::vector<std::string>& notes);

// Converts options.hf_dir to options.out_path (options.file_type: f32, f16, bf16 or q8_0).
// Errors as convert_hf_model's, plus kInvalidArgument for another file type.
Result<ConvertSummary> convert_hf_mmproj(const ConvertOptions& options, ThreadPool& pool);

}  // namespace specula::model
