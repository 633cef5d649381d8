// `specula convert`: an HF Gemma 4 checkpoint (config.json + safetensors, single or sharded, plus the
// tokenizer) -> a GGUF with llama.cpp's names, keys, value types and tensor types, written tensor by tensor
// (memory stays bounded whatever the model size).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "format/ggml_type.h"
#include "quant/recipe.h"

namespace specula::model {

struct ConvertOptions {
  std::string hf_dir;
  std::string out_path;
  quant::FileType file_type = quant::FileType::kMostlyF16;
  std::string model_name;  // general.name; empty = the HF folder's name
  // Called before each tensor is written (index in write order, count, GGUF name, type); may be empty.
  std::function<void(size_t, size_t, const std::string&, format::GgmlType)> on_tensor;
};

struct ConvertSummary {
  size_t n_tensors = 0;
  uint64_t n_bytes = 0;    // tensor data bytes
  size_t n_skipped = 0;    // HF tensors left out (vision/audio towers, a tied lm_head)
  bool tokenizer = false;  // tokenizer.ggml.* written
  bool chat_template = false;
  std::vector<std::string> notes;  // things the user should know (e.g. no tokenizer.json)
};

// Errors: kNotFound (folder, config.json, safetensors), kInvalidArgument (config or tensors inconsistent:
// every problem listed), kUnsupported, kCorruptData, kIo.
Result<ConvertSummary> convert_hf_model(const ConvertOptions& options, ThreadPool& pool);

}  // namespace specula::model
