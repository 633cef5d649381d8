#include "model/synth/mmproj_presets.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/convert/gguf_stream_writer.h"
#include "model/convert/row_encoder.h"
#include "model/synth/presets.h"

namespace specula::model {
namespace {

// The released towers (§2.1); projection_dim comes from the text preset.
MmprojHparams released(bool e_style) {
  MmprojHparams h;
  h.hidden = e_style ? 768 : 1152;
  h.intermediate = e_style ? 3072 : 4304;
  h.n_layers = e_style ? 16 : 27;
  h.n_heads = e_style ? 12 : 16;
  h.n_positions = 10240;
  h.clipped = e_style;
  h.standardize = !e_style;
  return h;
}

Result<MmprojPreset> make(std::string_view name) {
  MmprojPreset p;
  if (name == "e2b-mmproj") {
    p = {"e2b-mmproj", "gemma-4-E2B-mmproj (synthetic)", "e2b", released(true)};
  } else if (name == "e4b-mmproj") {
    p = {"e4b-mmproj", "gemma-4-E4B-mmproj (synthetic)", "e4b", released(true)};
  } else if (name == "26b-a4b-mmproj") {
    p = {"26b-a4b-mmproj", "gemma-4-26B-A4B-mmproj (synthetic)", "26b-a4b", released(false)};
  } else if (name == "31b-mmproj") {
    p = {"31b-mmproj", "gemma-4-31B-mmproj (synthetic)", "31b", released(false)};
  } else {
    // tiny-mmproj: an E-style (clipped) tower small enough for tests. Head dim 16 (the 2-D RoPE needs a multiple
    // of 4); 2048 positions cover an image up to 2048 patches wide or high (280 soft tokens allow 840).
    MmprojHparams h;
    h.hidden = 64, h.intermediate = 256, h.n_layers = 2, h.n_heads = 4, h.n_positions = 2048, h.clipped = true;
    p = {"tiny-mmproj", "specula-tiny-mmproj (synthetic)", "tiny", h};
  }
  SPECULA_TRY(const SynthPreset text, synth_preset(p.text_preset));
  p.hparams.text_hidden = text.hparams.hidden;
  return p;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Row source of one tensor: SynthSampler's U(-a, a) (variance 1 / fan_in) for matrices and U(0.5, 1.5) = u
// otherwise, mapped per tensor (see the header).
RowSource values_of(uint64_t seed, const MmprojHparams& h, const TensorSpec& spec) {
  TensorSpec s = spec;
  const int64_t cols = spec.dims[0];
  if (spec.name == kPatchEmbdName) s.dims = {int64_t{h.patch_size} * h.patch_size * 3, h.hidden};  // fan-in p*p*3
  const bool matrix = spec.kind == TensorKind::kMatrix || spec.kind == TensorKind::kEmbedding;
  if (!matrix) s.kind = TensorKind::kNorm;
  const SynthSampler sampler(seed, s, 0, 0);
  float sign = 1.0f, offset = 0.0f;  // value = sign * (u + offset)
  if (ends_with(spec.name, "_min") || ends_with(spec.name, "_max")) {
    sign = ends_with(spec.name, "_min") ? -1.0f : 1.0f, offset = 1.5f;  // +-U(2, 3)
  } else if (spec.name == "v.std_bias") {
    offset = -1.0f;  // U(-0.5, 0.5)
  }
  return [sampler, cols, sign, offset, matrix](int64_t row, float* out) {
    sampler.fill(row * cols, cols, out);
    if (matrix) return;
    for (int64_t k = 0; k < cols; ++k) out[k] = sign * (out[k] + offset);
  };
}

}  // namespace

const std::vector<std::string>& mmproj_preset_names() {
  static const std::vector<std::string> kNames = {"e2b-mmproj", "e4b-mmproj", "26b-a4b-mmproj", "31b-mmproj",
                                                  "tiny-mmproj"};
  return kNames;
}

bool is_mmproj_preset(std::string_view name) {
  const auto& n = mmproj_preset_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

Result<MmprojPreset> mmproj_preset(std::string_view name) {
  if (!is_mmproj_preset(name)) {
    return make_error(ErrorCode::kInvalidArgument, "unknown mmproj preset '{}' (choose one of {})", name,
                      fmt::join(mmproj_preset_names(), ", "));
  }
  return make(name);
}

Result<SynthPlan> plan_mmproj_synth(const SynthOptions& options) {
  SPECULA_TRY(const MmprojPreset p, mmproj_preset(options.preset));
  SPECULA_RETURN_IF_ERROR(validate_mmproj_hparams(p.hparams, "preset " + p.name));
  if (!options.vocab_path.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--vocab does not apply to mmproj presets (a projector has no "
                      "tokenizer)");
  }
  if (!mmproj_file_type_supported(options.file_type)) {
    return make_error(ErrorCode::kInvalidArgument, "an mmproj file can be written as f32, f16, bf16 or q8_0, not {}",
                      quant::file_type_name(options.file_type));
  }
  SynthPlan plan;
  plan.preset.name = p.name;
  plan.preset.display_name = p.display_name;
  for (const MmprojTensor& t : mmproj_tensors(p.hparams)) {
    plan.tensors.push_back(t.spec);
    plan.types.push_back(mmproj_tensor_type(options.file_type, t.spec));
    const uint64_t n = static_cast<uint64_t>(t.spec.n_elements());
    plan.n_params += n;
    plan.data_bytes += format::ggml_row_bytes(plan.types.back(), static_cast<size_t>(t.spec.dims[0])) *
                       (n / static_cast<uint64_t>(t.spec.dims[0]));
  }
  SPECULA_RETURN_IF_ERROR(add_mmproj_metadata(p.hparams, p.display_name, mmproj_size_label(plan.n_params),
                                              options.file_type, plan.metadata));
  return plan;
}

Status synth_mmproj(const SynthOptions& options, const std::string& out_path, ThreadPool& pool) {
  SPECULA_TRY(const SynthPlan plan, plan_mmproj_synth(options));
  SPECULA_TRY(const MmprojPreset p, mmproj_preset(options.preset));
  std::vector<StreamTensorInfo> infos;
  for (size_t i = 0; i < plan.tensors.size(); ++i) infos.push_back({plan.tensors[i].name, plan.types[i], plan.tensors[i].dims});
  SPECULA_TRY(auto writer, GgufStreamWriter::create(out_path, plan.metadata, std::move(infos)));
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const TensorSpec& spec = plan.tensors[i];
    if (options.on_tensor) options.on_tensor(i, plan.tensors.size(), spec.name, plan.types[i]);
    const int64_t cols = spec.dims[0];
    SPECULA_RETURN_IF_ERROR(encode_rows(*writer, pool, plan.types[i], cols, spec.n_elements() / cols,
                                        values_of(options.seed, p.hparams, spec)));
  }
  return writer->finish();
}

}  // namespace specula::model
