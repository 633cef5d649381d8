// Vision projector (mmproj) presets for `specula synth`: random-weight Gemma 4 vision towers + projectors that
// fit the text presets (projection_dim = the text preset's hidden size), written as llama.cpp's converter
// writes an mmproj (model/convert/mmproj_gguf.h). Shapes from gemma4-spec.md §2.1:
//   e2b-mmproj, e4b-mmproj      D 768, MLP 3072, 16 layers, 12 heads, clippable linears (clamp scalars)
//   26b-a4b-mmproj, 31b-mmproj  D 1152, MLP 4304, 27 layers, 16 heads, standardize (std_bias / std_scale)
//   tiny-mmproj                 D 64, MLP 256, 2 layers, 4 heads, 2048 positions, clipped; for `tiny` (~1.5 MB)
// Values (a pure function of seed, tensor name and index, as every synth tensor): matrices U(-a, a) with
// variance 1 / fan_in (the patch kernel's fan-in is p*p*3), norms U(0.5, 1.5), clamp bounds +-U(2, 3) (RMS-1
// activations pass them about 1 % of the time, so they clip a few values), std_bias U(-0.5, 0.5),
// std_scale U(0.5, 1.5).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/convert/mmproj_gguf.h"
#include "model/synth/synth.h"

namespace specula::model {

struct MmprojPreset {
  std::string name;          // "e2b-mmproj", ...
  std::string display_name;  // general.name
  std::string text_preset;   // the text preset it projects into ("e2b", ..., "tiny")
  MmprojHparams hparams;
};

bool is_mmproj_preset(std::string_view name);
const std::vector<std::string>& mmproj_preset_names();
Result<MmprojPreset> mmproj_preset(std::string_view name);

// plan_synth / synth_model for an mmproj preset. File types: f32, f16, bf16, q8_0 (as llama.cpp's converter
// can write an mmproj); --vocab does not apply. Errors: unknown preset, another file type, --vocab given.
Result<SynthPlan> plan_mmproj_synth(const SynthOptions& options);
Status synth_mmproj(const SynthOptions& options, const std::string& out_path, ThreadPool& pool);

}  // namespace specula::model
