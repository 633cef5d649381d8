#include "model/convert/tensor_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace specula::model {
namespace {

enum class T {
  kTokenEmbd,
  kOutputNorm,
  kOutput,
  kPleTokenEmbd,
  kPleModelProj,
  kPleProjNorm,
  kAttnNorm,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnOut,
  kAttnQNorm,
  kAttnKNorm,
  kPostAttnNorm,
  kFfnNorm,
  kFfnGate,
  kFfnUp,
  kFfnDown,
  kPostFfwNorm,
  kPostFfwNorm1,
  kPostFfwNorm2,
  kPreFfwNorm2,
  kRouter,
  kRouterScale,
  kExpertScale,
  kExpGateUp,
  kExpDown,
  kPleGate,
  kPleProj,
  kPlePostNorm,
  kLayerScale,
};

struct Entry {
  T id;
  std::string_view hf;    // without the "model." / "model.language_model." prefix; "layers.{}." prepended for layered
  std::string_view gguf;  // "blk.{}." prepended for layered
  bool layered;
};

// HF -> GGUF, gemma4-spec.md §5.2 and llama.cpp's gemma4 converter (router/per-expert renames, .weight
// appended to layer_scalar and the expert stacks).
constexpr std::array kTable = {
    Entry{T::kTokenEmbd, "embed_tokens.weight", "token_embd.weight", false},
    Entry{T::kOutputNorm, "norm.weight", "output_norm.weight", false},
    Entry{T::kOutput, "lm_head.weight", "output.weight", false},  // at the top level, not under the prefix
    Entry{T::kPleTokenEmbd, "embed_tokens_per_layer.weight", "per_layer_token_embd.weight", false},
    Entry{T::kPleModelProj, "per_layer_model_projection.weight", "per_layer_model_proj.weight", false},
    Entry{T::kPleProjNorm, "per_layer_projection_norm.weight", "per_layer_proj_norm.weight", false},
    Entry{T::kAttnNorm, "input_layernorm.weight", "attn_norm.weight", true},
    Entry{T::kAttnQ, "self_attn.q_proj.weight", "attn_q.weight", true},
    Entry{T::kAttnK, "self_attn.k_proj.weight", "attn_k.weight", true},
    Entry{T::kAttnV, "self_attn.v_proj.weight", "attn_v.weight", true},
    Entry{T::kAttnOut, "self_attn.o_proj.weight", "attn_output.weight", true},
    Entry{T::kAttnQNorm, "self_attn.q_norm.weight", "attn_q_norm.weight", true},
    Entry{T::kAttnKNorm, "self_attn.k_norm.weight", "attn_k_norm.weight", true},
    Entry{T::kPostAttnNorm, "post_attention_layernorm.weight", "post_attention_norm.weight", true},
    Entry{T::kFfnNorm, "pre_feedforward_layernorm.weight", "ffn_norm.weight", true},
    Entry{T::kFfnGate, "mlp.gate_proj.weight", "ffn_gate.weight", true},
    Entry{T::kFfnUp, "mlp.up_proj.weight", "ffn_up.weight", true},
    Entry{T::kFfnDown, "mlp.down_proj.weight", "ffn_down.weight", true},
    Entry{T::kPostFfwNorm, "post_feedforward_layernorm.weight", "post_ffw_norm.weight", true},
    Entry{T::kPostFfwNorm1, "post_feedforward_layernorm_1.weight", "post_ffw_norm_1.weight", true},
    Entry{T::kPostFfwNorm2, "post_feedforward_layernorm_2.weight", "post_ffw_norm_2.weight", true},
    Entry{T::kPreFfwNorm2, "pre_feedforward_layernorm_2.weight", "pre_ffw_norm_2.weight", true},
    Entry{T::kRouter, "router.proj.weight", "ffn_gate_inp.weight", true},
    Entry{T::kRouterScale, "router.scale", "ffn_gate_inp.scale", true},
    Entry{T::kExpertScale, "router.per_expert_scale", "ffn_down_exps.scale", true},
    Entry{T::kExpGateUp, "experts.gate_up_proj", "ffn_gate_up_exps.weight", true},
    Entry{T::kExpDown, "experts.down_proj", "ffn_down_exps.weight", true},
    Entry{T::kPleGate, "per_layer_input_gate.weight", "inp_gate.weight", true},
    Entry{T::kPleProj, "per_layer_projection.weight", "proj.weight", true},
    Entry{T::kPlePostNorm, "post_per_layer_input_norm.weight", "post_norm.weight", true},
    Entry{T::kLayerScale, "layer_scalar", "layer_output_scale.weight", true},
};

const Entry& entry(T id) {
  for (const auto& e : kTable) {
    if (e.id == id) return e;
  }
  return kTable[0];  // unreachable: every enumerator has an entry
}

class SpecList {
 public:
  void add(T id, int layer, std::vector<int64_t> dims, TensorKind kind) {
    const Entry& e = entry(id);
    TensorSpec s;
    s.name = e.layered ? fmt::format("blk.{}.{}", layer, e.gguf) : std::string(e.gguf);
    s.hf_name = e.layered ? fmt::format("layers.{}.{}", layer, e.hf) : std::string(e.hf);
    s.dims = std::move(dims);
    s.kind = kind;
    s.layer = e.layered ? layer : -1;
    specs_.push_back(std::move(s));
  }
  std::vector<TensorSpec>& specs() { return specs_; }

 private:
  std::vector<TensorSpec> specs_;
};

void add_layer(SpecList& s, const Gemma4Hparams& h, int i) {
  const int64_t H = h.hidden, d = h.layer_head_dim(i), q = static_cast<int64_t>(h.n_heads) * d;
  const int64_t kv = static_cast<int64_t>(h.layer_kv_heads(i)) * d, ff = h.layer_ffn(i);
  const auto M = TensorKind::kMatrix, N = TensorKind::kNorm;
  s.add(T::kAttnNorm, i, {H}, N);
  s.add(T::kAttnQ, i, {H, q}, M);
  s.add(T::kAttnQNorm, i, {d}, N);
  s.add(T::kAttnOut, i, {q, H}, M);
  s.add(T::kPostAttnNorm, i, {H}, N);
  if (!h.kv_shared(i)) {
    s.add(T::kAttnK, i, {H, kv}, M);
    s.add(T::kAttnKNorm, i, {d}, N);
    if (h.layer_has_v(i)) s.add(T::kAttnV, i, {H, kv}, M);
  }
  s.add(T::kFfnNorm, i, {H}, N);
  s.add(T::kFfnGate, i, {H, ff}, M);
  s.add(T::kFfnUp, i, {H, ff}, M);
  s.add(T::kFfnDown, i, {ff, H}, M);
  s.add(T::kPostFfwNorm, i, {H}, N);
  if (h.moe) {
    const int64_t E = h.n_experts, I = h.expert_ffn;
    s.add(T::kPostFfwNorm1, i, {H}, N);
    s.add(T::kPostFfwNorm2, i, {H}, N);
    s.add(T::kPreFfwNorm2, i, {H}, N);
    s.add(T::kRouter, i, {H, E}, M);
    s.add(T::kRouterScale, i, {H}, N);
    s.add(T::kExpertScale, i, {E}, N);
    s.add(T::kExpGateUp, i, {H, 2 * I, E}, M);
    s.add(T::kExpDown, i, {I, H, E}, M);
  }
  if (h.ple_dim > 0) {
    s.add(T::kPleGate, i, {H, h.ple_dim}, M);
    s.add(T::kPleProj, i, {h.ple_dim, H}, M);
    s.add(T::kPlePostNorm, i, {H}, N);
  }
  s.add(T::kLayerScale, i, {1}, TensorKind::kLayerScalar);
}

}  // namespace

int64_t TensorSpec::n_elements() const {
  int64_t n = 1;
  for (const int64_t d : dims) n *= d;
  return n;
}

std::vector<TensorSpec> gemma4_tensor_specs(const Gemma4Hparams& h) {
  SpecList s;
  const int64_t H = h.hidden;
  s.add(T::kTokenEmbd, 0, {H, h.vocab}, TensorKind::kEmbedding);
  s.add(T::kOutputNorm, 0, {H}, TensorKind::kNorm);
  if (!h.tied_embeddings) s.add(T::kOutput, 0, {H, h.vocab}, TensorKind::kMatrix);
  if (h.ple_dim > 0) {
    const int64_t width = static_cast<int64_t>(h.n_layers) * h.ple_dim;
    s.add(T::kPleTokenEmbd, 0, {width, h.ple_vocab}, TensorKind::kEmbedding);
    s.add(T::kPleModelProj, 0, {H, width}, TensorKind::kMatrix);
    s.add(T::kPleProjNorm, 0, {h.ple_dim}, TensorKind::kNorm);
  }
  for (int i = 0; i < h.n_layers; ++i) add_layer(s, h, i);
  std::vector<TensorSpec> out = std::move(s.specs());
  // Sorted by full HF name (byte order, as in a safetensors header): the top-level lm_head.weight sorts
  // before every "model." name; the others share the prefix, so their stripped names sort the same.
  std::stable_sort(out.begin(), out.end(), [](const TensorSpec& a, const TensorSpec& b) {
    const bool la = a.hf_name == "lm_head.weight", lb = b.hf_name == "lm_head.weight";
    if (la != lb) return la;
    return a.hf_name < b.hf_name;
  });
  TensorSpec rope;
  rope.name = "rope_freqs.weight";
  rope.dims = {h.head_dim_full / 2};
  rope.kind = TensorKind::kRopeFreqs;
  out.insert(out.begin(), std::move(rope));
  return out;
}

std::optional<std::string> gguf_name_for_hf(std::string_view hf_name) {
  for (const auto& e : kTable) {
    if (!e.layered) {
      if (hf_name == e.hf) return std::string(e.gguf);
      continue;
    }
    constexpr std::string_view kLayers = "layers.";
    if (hf_name.substr(0, kLayers.size()) != kLayers) continue;
    const std::string_view rest = hf_name.substr(kLayers.size());
    const size_t dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0 || rest.substr(dot + 1) != e.hf) continue;
    int layer = -1;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
    if (ec != std::errc() || ptr != rest.data() + dot || layer < 0) continue;
    return fmt::format("blk.{}.{}", layer, e.gguf);
  }
  return std::nullopt;
}

bool converter_keeps_f32(std::string_view gguf_name, size_t n_dims) {
  auto ends_with = [&](std::string_view suffix) {
    return gguf_name.size() >= suffix.size() && gguf_name.substr(gguf_name.size() - suffix.size()) == suffix;
  };
  return n_dims <= 1 || ends_with("_norm.weight") || ends_with("ffn_gate_inp.weight") || !ends_with(".weight");
}

}  // namespace specula::model
