#include "model/synth/assistant_presets.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/convert/gguf_stream_writer.h"
#include "model/convert/row_encoder.h"
#include "model/convert/type_plan.h"
#include "model/synth/tiny_vocab.h"

namespace specula::model {
namespace {

// What the released assistants share (§3.1): 4 layers S,S,S,F, head dims 256/512, Gemma 4 RoPE, W_a 512.
AssistantHparams released(int backbone, int hidden, int n_heads, int kv, int kv_full, int ffn) {
  AssistantHparams h;
  h.vocab = 262144;
  h.backbone = backbone, h.hidden = hidden, h.n_layers = 4, h.sliding = {true, true, true, false};
  h.n_heads = n_heads, h.n_kv_heads = kv, h.n_kv_heads_full = kv_full == kv ? 0 : kv_full;
  h.head_dim = 256, h.head_dim_full = 512, h.ffn = ffn;
  h.context_length = 131072, h.sliding_window = 512;
  return h;
}

AssistantPreset make(std::string_view name) {
  if (name == "e2b-assistant") {
    AssistantHparams h = released(1536, 256, 4, 1, 1, 2048);
    h.n_centroids = 2048, h.centroid_top_k = 32;
    return {"e2b-assistant", "gemma-4-E2B-assistant (synthetic)", h};
  }
  if (name == "e4b-assistant") {
    AssistantHparams h = released(2560, 256, 4, 2, 2, 2048);
    h.n_centroids = 2048, h.centroid_top_k = 32;
    return {"e4b-assistant", "gemma-4-E4B-assistant (synthetic)", h};
  }
  if (name == "31b-assistant") {
    AssistantHparams h = released(5376, 1024, 32, 16, 4, 8192);
    h.context_length = 262144;
    return {"31b-assistant", "gemma-4-31B-assistant (synthetic)", h};
  }
  if (name == "26b-a4b-assistant") {
    // Known: Hb 2816, Ha 1024, and KV heads equal to the target's 8 (sliding) / 2 (full). Assumed: 4 layers S,S,S,F,
    // 16 query heads, MLP 8192 (as the 31B assistant).
    AssistantHparams h = released(2816, 1024, 16, 8, 2, 8192);
    h.context_length = 262144;
    return {"26b-a4b-assistant", "gemma-4-26B-A4B-assistant (synthetic)", h};
  }
  // tiny-assistant: drafts for the `tiny` preset (hidden 256, 2 KV heads, head dims 64/128, W 32, 512 tokens),
  // with a centroid head of 16 clusters of 32 tokens.
  AssistantHparams h;
  h.vocab = static_cast<int>(tiny_vocab_size());
  h.backbone = 256, h.hidden = 128, h.n_layers = 4, h.sliding = {true, true, true, false};
  h.n_heads = 4, h.n_kv_heads = 2, h.head_dim = 64, h.head_dim_full = 128, h.ffn = 256;
  h.context_length = 4096, h.sliding_window = 32;
  h.n_centroids = 16, h.centroid_top_k = 4;
  return {"tiny-assistant", "specula-tiny-assistant (synthetic)", h};
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A random permutation of the token ids (Fisher-Yates driven by the seed).
std::vector<int32_t> random_ordering(int vocab, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  uint64_t state = mix(seed ^ 0x0bde4ull);
  for (size_t i = ids.size(); i > 1; --i) {
    state = mix(state);
    std::swap(ids[i - 1], ids[state % i]);
  }
  return ids;
}

}  // namespace

const std::vector<std::string>& assistant_preset_names() {
  static const std::vector<std::string> kNames = {"e2b-assistant", "e4b-assistant", "26b-a4b-assistant",
                                                  "31b-assistant", "tiny-assistant"};
  return kNames;
}

bool is_assistant_preset(std::string_view name) {
  const auto& n = assistant_preset_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

Result<AssistantPreset> assistant_preset(std::string_view name) {
  if (!is_assistant_preset(name)) {
    return make_error(ErrorCode::kInvalidArgument, "unknown assistant preset '{}' (choose one of {})", name,
                      fmt::join(assistant_preset_names(), ", "));
  }
  return make(name);
}

Result<SynthPlan> plan_assistant_synth(const SynthOptions& options) {
  SPECULA_TRY(const AssistantPreset p, assistant_preset(options.preset));
  const AssistantHparams& h = p.hparams;
  SPECULA_RETURN_IF_ERROR(validate_assistant_hparams(h, "preset " + p.name));
  if (!options.vocab_path.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--vocab does not apply to assistant presets (a drafter has no "
                      "tokenizer of its own)");
  }
  SynthPlan plan;
  plan.preset.name = p.name;
  plan.preset.display_name = p.display_name;
  plan.preset.hparams.head_dim_full = h.head_dim_full;
  plan.preset.hparams.partial_rotary_full = h.partial_rotary_full;
  SPECULA_RETURN_IF_ERROR(add_assistant_metadata(h, p.display_name, options.file_type, plan.metadata));
  const std::vector<TensorSpec> specs = assistant_tensor_specs(h);
  std::vector<NamedShape> shapes;
  for (const auto& s : specs) shapes.push_back({s.name, s.dims});
  TypePlan types = plan_tensor_types(options.file_type, shapes, h.n_layers, 0);
  for (const size_t i : types.order) {
    const bool ids = specs[i].name == kOrderingTensorName;
    plan.tensors.push_back(specs[i]);
    plan.types.push_back(ids ? format::GgmlType::kI32 : types.types[i]);
    const uint64_t n = static_cast<uint64_t>(specs[i].n_elements());
    plan.n_params += n;
    plan.data_bytes += format::ggml_row_bytes(plan.types.back(), static_cast<size_t>(specs[i].dims[0])) *
                       (n / static_cast<uint64_t>(specs[i].dims[0]));
  }
  return plan;
}

Status synth_assistant(const SynthOptions& options, const std::string& out_path, ThreadPool& pool) {
  SPECULA_TRY(const SynthPlan plan, plan_assistant_synth(options));
  SPECULA_TRY(const AssistantPreset p, assistant_preset(options.preset));
  std::vector<StreamTensorInfo> infos;
  for (size_t i = 0; i < plan.tensors.size(); ++i) infos.push_back({plan.tensors[i].name, plan.types[i], plan.tensors[i].dims});
  SPECULA_TRY(auto writer, GgufStreamWriter::create(out_path, plan.metadata, std::move(infos)));
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const TensorSpec& spec = plan.tensors[i];
    if (options.on_tensor) options.on_tensor(i, plan.tensors.size(), spec.name, plan.types[i]);
    if (spec.name == kOrderingTensorName) {
      const std::vector<int32_t> ids = random_ordering(p.hparams.vocab, options.seed);
      SPECULA_RETURN_IF_ERROR(write_encoded_rows(*writer, pool, ids.size() * 4, 1, [&](int64_t, uint8_t* out) {
        std::memcpy(out, ids.data(), ids.size() * 4);
      }));
      continue;
    }
    const int64_t cols = spec.dims[0];
    const SynthSampler sampler(options.seed, spec, 0, p.hparams.n_rot_pairs_full());
    const auto source = [&sampler, cols](int64_t row, float* out) { sampler.fill(row * cols, cols, out); };
    SPECULA_RETURN_IF_ERROR(encode_rows(*writer, pool, plan.types[i], cols, spec.n_elements() / cols, source));
  }
  return writer->finish();
}

}  // namespace specula::model
