// `specula convert` for HF Gemma 4 MTP assistants (Gemma4AssistantForCausalLM, model_type gemma4_assistant):
// config.json + safetensors -> a gemma4-assistant GGUF with llama.cpp's keys and names, keeping the centroid
// head tensors (masked_embedding.*) that llama.cpp's converter drops.
#pragma once

#include <string>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/convert/assistant_gguf.h"
#include "model/convert/converter.h"

namespace specula::model {

// Whether config.json (text) describes an assistant (architectures or model_type); false for unparsable text.
bool is_assistant_config(const std::string& json_text);

// Errors: kCorruptData (not JSON), kUnsupported (PLE, MoE or double-wide assistants), kInvalidArgument (missing or
// invalid fields, all listed).
Result<AssistantHparams> parse_assistant_config(const std::string& json_text, const std::string& where);

// Converts options.hf_dir (whose config.json text is config_text). Errors as convert_hf_model's.
Result<ConvertSummary> convert_hf_assistant(const ConvertOptions& options, const std::string& config_text,
                                            ThreadPool& pool);

}  // namespace specula::model
