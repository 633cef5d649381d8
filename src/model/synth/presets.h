// Hyperparameters of the released Gemma 4 text decoders (gemma4-spec.md §1.2) and of small test models,
// for `specula synth`. The released presets have the real shapes (vocab 262144, head dims 256/512, ...);
// `tiny` has every feature of the E models (PLE, KV sharing, double-wide MLP, sliding + full layers,
// soft-cap) at head dims 64/128, and `tiny-moe` the MoE + attention_k_eq_v features of 26B-A4B.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/convert/gemma4_hparams.h"

namespace specula::model {

struct SynthPreset {
  std::string name;          // "e2b", "e4b", "26b-a4b", "31b", "tiny", "tiny-moe"
  std::string display_name;  // general.name, e.g. "gemma-4-E2B (synthetic)"
  Gemma4Hparams hparams;
  bool tiny_tokenizer = false;  // gets the built-in small vocabulary (its size is hparams.vocab)
};

const std::vector<std::string>& synth_preset_names();
// Errors: kInvalidArgument naming the accepted presets.
Result<SynthPreset> synth_preset(std::string_view name);

}  // namespace specula::model
