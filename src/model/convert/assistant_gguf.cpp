#include "model/convert/assistant_gguf.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace specula::model {
namespace {

constexpr const char* kArch = "gemma4-assistant";
std::string key(const char* suffix) { return std::string(kArch) + "." + suffix; }

Status add_keys(const AssistantHparams& h, quant::FileType file_type, format::GgufWriter& w) {
  const auto u32 = [](int v) { return static_cast<uint32_t>(v); };
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("block_count"), u32(h.n_layers)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("context_length"), u32(h.context_length)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("embedding_length"), u32(h.hidden)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("feed_forward_length"), u32(h.ffn)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.head_count"), u32(h.n_heads)));
  if (h.n_kv_heads_full != 0 && h.n_kv_heads_full != h.n_kv_heads) {
    std::vector<int32_t> kv;
    for (int i = 0; i < h.n_layers; ++i) kv.push_back(h.layer_kv_heads(i));
    SPECULA_RETURN_IF_ERROR(w.set_array(key("attention.head_count_kv"), kv));
  } else {
    SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.head_count_kv"), u32(h.n_kv_heads)));
  }
  SPECULA_RETURN_IF_ERROR(w.set_f32(key("rope.freq_base"), static_cast<float>(h.rope_theta_full)));
  SPECULA_RETURN_IF_ERROR(w.set_f32(key("rope.freq_base_swa"), static_cast<float>(h.rope_theta_swa)));
  SPECULA_RETURN_IF_ERROR(w.set_f32(key("attention.layer_norm_rms_epsilon"), h.rms_eps));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.key_length"), u32(h.head_dim_full)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.value_length"), u32(h.head_dim_full)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("general.file_type", static_cast<uint32_t>(file_type)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.sliding_window"), u32(h.sliding_window)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.shared_kv_layers"), u32(h.n_layers)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("embedding_length_per_layer_input"), 0));
  SPECULA_RETURN_IF_ERROR(w.set_array(key("attention.sliding_window_pattern"), h.sliding));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.key_length_swa"), u32(h.head_dim)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.value_length_swa"), u32(h.head_dim)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("rope.dimension_count"), u32(h.head_dim_full)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("rope.dimension_count_swa"), u32(h.head_dim)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("embedding_length_out"), u32(h.backbone)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("nextn_predict_layers"), u32(h.n_layers)));
  if (h.n_centroids > 0) SPECULA_RETURN_IF_ERROR(w.set_u32(key("centroid_top_k"), u32(h.centroid_top_k)));
  return ok_status();
}

}  // namespace

Status validate_assistant_hparams(const AssistantHparams& h, const std::string& where) {
  std::vector<std::string> p;
  const auto dim = [&](const char* name, int v, int min) {
    if (v < min || v > (1 << 24)) p.push_back(fmt::format("{} = {} is out of range", name, v));
  };
  dim("vocab_size", h.vocab, 1);
  dim("hidden_size", h.hidden, 1);
  dim("backbone_hidden_size", h.backbone, 1);
  dim("num_hidden_layers", h.n_layers, 1);
  dim("num_attention_heads", h.n_heads, 1);
  dim("num_key_value_heads", h.n_kv_heads, 1);
  dim("head_dim", h.head_dim, 2);
  dim("global_head_dim", h.head_dim_full, 2);
  dim("intermediate_size", h.ffn, 1);
  dim("max_position_embeddings", h.context_length, 1);
  if (h.sliding.size() != static_cast<size_t>(std::max(h.n_layers, 0))) {
    p.push_back(fmt::format("layer_types has {} entries for {} layers", h.sliding.size(), h.n_layers));
  } else if (std::count(h.sliding.begin(), h.sliding.end(), true) > 0 && h.sliding_window < 1) {
    p.push_back("sliding layers need sliding_window >= 1");
  }
  for (const int kv : {h.n_kv_heads, h.n_kv_heads_full}) {
    if (kv > 0 && h.n_heads % kv != 0) p.push_back(fmt::format("{} KV heads do not divide {} heads", kv, h.n_heads));
  }
  if (h.n_centroids < 0 || (h.n_centroids > 0 && (h.vocab % h.n_centroids != 0 || h.centroid_top_k < 1 ||
                                                  h.centroid_top_k > h.n_centroids))) {
    p.push_back(fmt::format("num_centroids {} must divide vocab_size {} and be >= centroid_intermediate_top_k {}",
                            h.n_centroids, h.vocab, h.centroid_top_k));
  }
  if (p.empty()) return ok_status();
  return make_error(ErrorCode::kInvalidArgument, "{}: {} problem{}: {}", where, p.size(), p.size() == 1 ? "" : "s",
                    fmt::join(p, "; "));
}

Status add_assistant_metadata(const AssistantHparams& h, const std::string& model_name, quant::FileType file_type,
                              format::GgufWriter& w) {
  SPECULA_RETURN_IF_ERROR(w.set_string("general.architecture", kArch));
  SPECULA_RETURN_IF_ERROR(w.set_string("general.type", "model"));
  if (!model_name.empty()) SPECULA_RETURN_IF_ERROR(w.set_string("general.name", model_name));
  SPECULA_RETURN_IF_ERROR(add_keys(h, file_type, w));
  return w.set_u32("general.quantization_version", 2);
}

std::vector<TensorSpec> assistant_tensor_specs(const AssistantHparams& h) {
  const int64_t ha = h.hidden;
  std::vector<TensorSpec> s;
  const auto add = [&](std::string name, std::string hf, std::vector<int64_t> dims, TensorKind kind, int layer) {
    s.push_back({std::move(name), std::move(hf), std::move(dims), kind, layer});
  };
  add("token_embd.weight", "model.embed_tokens.weight", {ha, h.vocab}, TensorKind::kEmbedding, -1);
  for (int i = 0; i < h.n_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const std::string l = "model.layers." + std::to_string(i) + ".";
    const int64_t d = h.layer_head_dim(i);
    const int64_t qw = d * h.n_heads;
    add(b + "attn_norm.weight", l + "input_layernorm.weight", {ha}, TensorKind::kNorm, i);
    add(b + "layer_output_scale.weight", l + "layer_scalar", {1}, TensorKind::kLayerScalar, i);
    add(b + "ffn_down.weight", l + "mlp.down_proj.weight", {h.ffn, ha}, TensorKind::kMatrix, i);
    add(b + "ffn_gate.weight", l + "mlp.gate_proj.weight", {ha, h.ffn}, TensorKind::kMatrix, i);
    add(b + "ffn_up.weight", l + "mlp.up_proj.weight", {ha, h.ffn}, TensorKind::kMatrix, i);
    add(b + "post_attention_norm.weight", l + "post_attention_layernorm.weight", {ha}, TensorKind::kNorm, i);
    add(b + "post_ffw_norm.weight", l + "post_feedforward_layernorm.weight", {ha}, TensorKind::kNorm, i);
    add(b + "ffn_norm.weight", l + "pre_feedforward_layernorm.weight", {ha}, TensorKind::kNorm, i);
    add(b + "attn_output.weight", l + "self_attn.o_proj.weight", {qw, ha}, TensorKind::kMatrix, i);
    add(b + "attn_q_norm.weight", l + "self_attn.q_norm.weight", {d}, TensorKind::kNorm, i);
    add(b + "attn_q.weight", l + "self_attn.q_proj.weight", {ha, qw}, TensorKind::kMatrix, i);
  }
  add("output_norm.weight", "model.norm.weight", {ha}, TensorKind::kNorm, -1);
  add("nextn.post_projection.weight", "post_projection.weight", {ha, h.backbone}, TensorKind::kMatrix, -1);
  add("nextn.pre_projection.weight", "pre_projection.weight", {2 * static_cast<int64_t>(h.backbone), ha},
      TensorKind::kMatrix, -1);
  if (h.n_centroids > 0) {
    add("masked_embd_centroids.weight", "masked_embedding.centroids.weight", {ha, h.n_centroids}, TensorKind::kMatrix, -1);
    add(kOrderingTensorName, "masked_embedding.token_ordering", {h.vocab}, TensorKind::kNorm, -1);
  }
  std::stable_sort(s.begin(), s.end(), [](const TensorSpec& a, const TensorSpec& b) { return a.hf_name < b.hf_name; });
  s.insert(s.begin(), {"rope_freqs.weight", "", {h.head_dim_full / 2}, TensorKind::kRopeFreqs, -1});
  return s;
}

}  // namespace specula::model
