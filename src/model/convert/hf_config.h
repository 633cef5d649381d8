// Parses and validates an HF config.json of a Gemma 4 text model: Gemma4ForConditionalGeneration (text part
// under "text_config", tensors under "model.language_model.") or Gemma4ForCausalLM (flat config, tensors
// under "model."). Every problem (unknown architecture, missing or mistyped field, unsupported value,
// inconsistent sizes) is collected and reported in one error.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "model/convert/gemma4_hparams.h"

namespace specula::model {

struct HfModelConfig {
  std::string architecture;                   // e.g. "Gemma4ForConditionalGeneration"
  std::string tensor_prefix;                  // "model.language_model." or "model."
  std::vector<std::string> ignored_prefixes;  // towers convert leaves out (vision, audio and their projectors)
  Gemma4Hparams hparams;
};

// where: the file name for messages. Errors: kCorruptData (not JSON), kUnsupported (an architecture or
// feature specula cannot convert), kInvalidArgument (missing / invalid fields, all listed).
Result<HfModelConfig> parse_hf_config(const std::string& json_text, const std::string& where);

}  // namespace specula::model
