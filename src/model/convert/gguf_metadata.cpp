#include "model/convert/gguf_metadata.h"

#include <vector>

namespace specula::model {
namespace {

std::string key(const char* suffix) { return std::string("gemma4.") + suffix; }

// Keys in the order llama.cpp's TextModel / Gemma3Model / Gemma4Model set_gguf_parameters add them (a
// key written twice there keeps its first position). Integers are u32; per-layer arrays are i32.
Status add_dimensions(const Gemma4Hparams& h, quant::FileType file_type, format::GgufWriter& w) {
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("block_count"), static_cast<uint32_t>(h.n_layers)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("context_length"), static_cast<uint32_t>(h.context_length)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("embedding_length"), static_cast<uint32_t>(h.hidden)));
  if (h.ffn_per_layer()) {
    std::vector<int32_t> ffn;
    for (int i = 0; i < h.n_layers; ++i) ffn.push_back(h.layer_ffn(i));
    SPECULA_RETURN_IF_ERROR(w.set_array(key("feed_forward_length"), ffn));
  } else {
    SPECULA_RETURN_IF_ERROR(w.set_u32(key("feed_forward_length"), static_cast<uint32_t>(h.ffn)));
  }
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.head_count"), static_cast<uint32_t>(h.n_heads)));
  if (h.kv_heads_per_layer()) {
    std::vector<int32_t> kv;
    for (int i = 0; i < h.n_layers; ++i) kv.push_back(h.layer_kv_heads(i));
    SPECULA_RETURN_IF_ERROR(w.set_array(key("attention.head_count_kv"), kv));
  } else {
    SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.head_count_kv"), static_cast<uint32_t>(h.n_kv_heads)));
  }
  SPECULA_RETURN_IF_ERROR(w.set_f32(key("rope.freq_base"), static_cast<float>(h.rope_theta_full)));
  SPECULA_RETURN_IF_ERROR(w.set_f32(key("rope.freq_base_swa"), static_cast<float>(h.rope_theta_swa)));
  SPECULA_RETURN_IF_ERROR(w.set_f32(key("attention.layer_norm_rms_epsilon"), h.rms_eps));
  if (h.moe) {
    SPECULA_RETURN_IF_ERROR(w.set_u32(key("expert_count"), static_cast<uint32_t>(h.n_experts)));
    SPECULA_RETURN_IF_ERROR(w.set_u32(key("expert_used_count"), static_cast<uint32_t>(h.n_experts_used)));
  }
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.key_length"), static_cast<uint32_t>(h.head_dim_full)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.value_length"), static_cast<uint32_t>(h.head_dim_full)));
  return w.set_u32("general.file_type", static_cast<uint32_t>(file_type));
}

Status add_attention_layout(const Gemma4Hparams& h, format::GgufWriter& w) {
  if (h.final_softcap > 0.0f) SPECULA_RETURN_IF_ERROR(w.set_f32(key("final_logit_softcapping"), h.final_softcap));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.sliding_window"), static_cast<uint32_t>(h.sliding_window)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.shared_kv_layers"), static_cast<uint32_t>(h.n_kv_shared)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("embedding_length_per_layer_input"), static_cast<uint32_t>(h.ple_dim)));
  SPECULA_RETURN_IF_ERROR(w.set_array(key("attention.sliding_window_pattern"), h.sliding));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.key_length_swa"), static_cast<uint32_t>(h.head_dim)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("attention.value_length_swa"), static_cast<uint32_t>(h.head_dim)));
  if (h.moe) {
    SPECULA_RETURN_IF_ERROR(w.set_u32(key("expert_feed_forward_length"), static_cast<uint32_t>(h.expert_ffn)));
  }
  // Full layers: n_rot = the whole head (the proportional part is expressed by rope_freqs); sliding: all dims.
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("rope.dimension_count"), static_cast<uint32_t>(h.head_dim_full)));
  SPECULA_RETURN_IF_ERROR(w.set_u32(key("rope.dimension_count_swa"), static_cast<uint32_t>(h.head_dim)));
  // Not in llama.cpp's files (it guesses from the width): image blocks attend bidirectionally on sliding layers.
  return w.set_bool(kBidirectionalVisionKey, h.bidirectional == BidirectionalMode::kVision);
}

}  // namespace

Status add_gemma4_metadata(const Gemma4Hparams& h, const std::string& model_name, quant::FileType file_type,
                           format::GgufWriter& w) {
  SPECULA_RETURN_IF_ERROR(w.set_string("general.architecture", "gemma4"));
  SPECULA_RETURN_IF_ERROR(w.set_string("general.type", "model"));
  if (!model_name.empty()) SPECULA_RETURN_IF_ERROR(w.set_string("general.name", model_name));
  SPECULA_RETURN_IF_ERROR(add_dimensions(h, file_type, w));
  SPECULA_RETURN_IF_ERROR(add_attention_layout(h, w));
  return w.set_u32("general.quantization_version", 2);
}

}  // namespace specula::model
