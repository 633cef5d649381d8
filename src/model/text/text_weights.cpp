#include "model/text/text_weights.h"

namespace specula::model {
namespace {

std::string blk(int i, const char* name) { return fmt::format("blk.{}.{}", i, name); }

void bind_attention(TensorBinder& b, const TextConfig& c, int i, LayerWeights& w) {
  const LayerSpec& l = c.layers[static_cast<size_t>(i)];
  const int64_t h = c.hidden;
  const int64_t q_width = static_cast<int64_t>(c.n_heads) * l.head_dim;
  const int64_t kv_width = static_cast<int64_t>(l.n_kv_heads) * l.head_dim;
  const bool gemma = c.arch != TextArch::kLlama;
  w.attn_norm = b.vector(blk(i, "attn_norm.weight"), h);
  w.wq = b.matrix(blk(i, "attn_q.weight"), h, q_width);
  w.wo = b.matrix(blk(i, "attn_output.weight"), q_width, h);
  if (gemma) {
    w.q_norm = b.vector(blk(i, "attn_q_norm.weight"), l.head_dim);
    w.post_attn_norm = b.vector(blk(i, "post_attention_norm.weight"), h);
  }
  if (!l.owns_kv()) return;
  w.wk = b.matrix(blk(i, "attn_k.weight"), h, kv_width);
  // attention_k_eq_v (gemma4 full layers of the large models): no attn_v, V comes from the raw K projection.
  const bool k_eq_v = c.arch == TextArch::kGemma4 && !l.sliding && !b.has(blk(i, "attn_v.weight"));
  if (!k_eq_v) w.wv = b.matrix(blk(i, "attn_v.weight"), h, kv_width);
  if (gemma) w.k_norm = b.vector(blk(i, "attn_k_norm.weight"), l.head_dim);
}

void bind_moe(TensorBinder& b, const TextConfig& c, int i, MoeWeights& m) {
  const int64_t h = c.hidden, e = c.n_experts, f = c.expert_ffn_dim;
  m.router = b.matrix(blk(i, "ffn_gate_inp.weight"), h, e);
  m.router_scale = b.vector(blk(i, "ffn_gate_inp.scale"), h);
  m.expert_scale = b.vector(blk(i, "ffn_down_exps.scale"), e);
  if (b.has(blk(i, "ffn_gate_up_exps.weight"))) {
    m.gate_up = b.stack(blk(i, "ffn_gate_up_exps.weight"), h, 2 * f, e);
  } else {
    m.gate = b.stack(blk(i, "ffn_gate_exps.weight"), h, f, e);
    m.up = b.stack(blk(i, "ffn_up_exps.weight"), h, f, e);
  }
  m.down = b.stack(blk(i, "ffn_down_exps.weight"), f, h, e);
  m.pre_norm_2 = b.vector(blk(i, "pre_ffw_norm_2.weight"), h);
  m.post_norm_1 = b.vector(blk(i, "post_ffw_norm_1.weight"), h);
  m.post_norm_2 = b.vector(blk(i, "post_ffw_norm_2.weight"), h);
}

void bind_layer(TensorBinder& b, const TextConfig& c, int i, LayerWeights& w) {
  const LayerSpec& l = c.layers[static_cast<size_t>(i)];
  const int64_t h = c.hidden;
  const bool gemma = c.arch != TextArch::kLlama;
  bind_attention(b, c, i, w);
  w.ffn_norm = b.vector(blk(i, "ffn_norm.weight"), h);
  w.ffn_gate = b.matrix(blk(i, "ffn_gate.weight"), h, l.ffn_dim);
  w.ffn_up = b.matrix(blk(i, "ffn_up.weight"), h, l.ffn_dim);
  w.ffn_down = b.matrix(blk(i, "ffn_down.weight"), l.ffn_dim, h);
  if (gemma) w.post_ffn_norm = b.vector(blk(i, "post_ffw_norm.weight"), h);
  if (c.n_experts > 0) {
    w.has_moe = true;
    bind_moe(b, c, i, w.moe);
  }
  if (c.ple_dim > 0) {
    w.ple_gate = b.matrix(blk(i, "inp_gate.weight"), h, c.ple_dim);
    w.ple_proj = b.matrix(blk(i, "proj.weight"), c.ple_dim, h);
    w.ple_post_norm = b.vector(blk(i, "post_norm.weight"), h);
  }
  if (c.arch == TextArch::kGemma4) {
    const auto s = b.vector(blk(i, "layer_output_scale.weight"), 1, /*required=*/false);
    if (!s.empty()) w.output_scale = s[0];
  }
}

}  // namespace

Result<TextWeights> bind_text_weights(const format::GgufFile& file, const TextConfig& c) {
  TensorBinder b(file);
  TextWeights w;
  const format::GgufTensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->dims.size() != 2) {
    return make_error(ErrorCode::kCorruptData, "{}: tensor 'token_embd.weight' is missing or not 2-D", file.path());
  }
  const int64_t vocab = embd->dims[1];
  w.token_embd = b.matrix("token_embd.weight", c.hidden, vocab);
  w.output = b.has("output.weight") ? b.matrix("output.weight", c.hidden, vocab) : w.token_embd;
  w.output.int8_only = true;
  w.output_norm = b.vector("output_norm.weight", c.hidden);
  if (c.arch == TextArch::kGemma4) {
    int full_dim = 0;
    for (const auto& l : c.layers) full_dim = l.sliding ? full_dim : l.head_dim;
    if (full_dim > 0) w.rope_freqs = b.vector("rope_freqs.weight", full_dim / 2, /*required=*/false);
  }
  if (c.ple_dim > 0) {
    const int64_t width = static_cast<int64_t>(c.n_layers) * c.ple_dim;
    const format::GgufTensorInfo* ple = file.find_tensor("per_layer_token_embd.weight");
    const int64_t ple_vocab = (ple != nullptr && ple->dims.size() == 2) ? ple->dims[1] : vocab;
    w.ple_token_embd = b.matrix("per_layer_token_embd.weight", width, ple_vocab);
    w.ple_model_proj = b.matrix("per_layer_model_proj.weight", c.hidden, width);
    w.ple_proj_norm = b.vector("per_layer_proj_norm.weight", c.ple_dim);
  }
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) bind_layer(b, c, i, w.layers[static_cast<size_t>(i)]);
  SPECULA_RETURN_IF_ERROR(b.finish());
  return w;
}

}  // namespace specula::model
