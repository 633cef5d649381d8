// MTP assistant presets for `specula synth` (gemma4-spec.md §3.1 table): e2b-assistant and e4b-assistant (with
// the centroid head), 31b-assistant, 26b-a4b-assistant (its published shape is partial: layers, query heads and
// MLP width are assumptions, see the .cpp), and tiny-assistant, which drafts for the `tiny` preset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/convert/assistant_gguf.h"
#include "model/synth/synth.h"

namespace specula::model {

struct AssistantPreset {
  std::string name;          // "e2b-assistant", ...
  std::string display_name;  // general.name
  AssistantHparams hparams;
};

bool is_assistant_preset(std::string_view name);
const std::vector<std::string>& assistant_preset_names();
Result<AssistantPreset> assistant_preset(std::string_view name);

// plan_synth / synth_model for an assistant preset (they delegate here).
Result<SynthPlan> plan_assistant_synth(const SynthOptions& options);
Status synth_assistant(const SynthOptions& options, const std::string& out_path, ThreadPool& pool);

}  // namespace specula::model
