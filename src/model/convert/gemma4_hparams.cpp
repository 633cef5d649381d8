#include "model/convert/gemma4_hparams.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace specula::model {
namespace {

constexpr int kMaxDim = 1 << 20;
constexpr int kMaxLayers = 1024;

// num_kv_shared_layers must leave, for every shared layer, an earlier non-shared layer of its type.
void kv_sharing_problems(const Gemma4Hparams& h, std::vector<std::string>& p) {
  if (h.n_kv_shared < 0 || h.n_kv_shared >= std::max(h.n_layers, 1)) {
    p.push_back(fmt::format("num_kv_shared_layers = {} must be in [0, num_hidden_layers)", h.n_kv_shared));
  } else if (h.sliding.size() == static_cast<size_t>(h.n_layers)) {
    // Every shared layer needs an earlier non-shared layer of its own type to read K/V from.
    for (int i = h.first_kv_shared(); i < h.n_layers; ++i) {
      bool found = false;
      for (int j = 0; j < h.first_kv_shared(); ++j) found = found || h.is_sliding(j) == h.is_sliding(i);
      if (!found) {
        p.push_back(fmt::format("KV-shared layer {} ({}) has no earlier layer of its type to share K/V with", i,
                                h.is_sliding(i) ? "sliding" : "full"));
        break;
      }
    }
  }
}

}  // namespace

int Gemma4Hparams::layer_kv_heads(int layer) const {
  if (!is_sliding(layer) && kv_heads_per_layer()) return n_kv_heads_full;
  return n_kv_heads;
}

int Gemma4Hparams::layer_ffn(int layer) const {
  // HF: double-wide iff use_double_wide_mlp and layer >= first_kv_shared_layer_idx > 0.
  return (double_wide_mlp && n_kv_shared > 0 && kv_shared(layer)) ? 2 * ffn : ffn;
}

int Gemma4Hparams::n_rot_pairs_full() const {
  // llama.cpp: int(head_dim_full * partial_rotary_factor / 2); HF: int(factor * head_dim // 2). Same value.
  return static_cast<int>(static_cast<double>(head_dim_full) * partial_rotary_full / 2.0);
}

std::vector<std::string> hparams_problems(const Gemma4Hparams& h) {
  std::vector<std::string> p;
  auto dim = [&](const char* name, int v, int min) {
    if (v < min || v > kMaxDim) p.push_back(fmt::format("{} = {} is out of range [{}, {}]", name, v, min, kMaxDim));
  };
  dim("vocab_size", h.vocab, 1);
  dim("hidden_size", h.hidden, 1);
  dim("num_attention_heads", h.n_heads, 1);
  dim("num_key_value_heads", h.n_kv_heads, 1);
  dim("head_dim", h.head_dim, 2);
  dim("global_head_dim", h.head_dim_full, 2);
  dim("intermediate_size", h.ffn, 1);
  dim("max_position_embeddings", h.context_length, 1);
  dim("sliding_window", h.sliding_window, 1);
  if (h.n_layers < 1 || h.n_layers > kMaxLayers) {
    p.push_back(fmt::format("num_hidden_layers = {} is out of range [1, {}]", h.n_layers, kMaxLayers));
  }
  if (h.sliding.size() != static_cast<size_t>(std::max(h.n_layers, 0))) {
    p.push_back(fmt::format("layer_types has {} entries for {} layers", h.sliding.size(), h.n_layers));
  }
  if (h.head_dim % 2 != 0) p.push_back(fmt::format("head_dim = {} must be even (RoPE pairs)", h.head_dim));
  if (h.head_dim_full % 2 != 0)
    p.push_back(fmt::format("global_head_dim = {} must be even (RoPE pairs)", h.head_dim_full));
  if (!(h.rms_eps > 0.0f && h.rms_eps < 1.0f))
    p.push_back(fmt::format("rms_norm_eps = {} is not in (0, 1)", h.rms_eps));
  if (h.n_kv_heads >= 1 && h.n_heads % h.n_kv_heads != 0) {
    p.push_back(
        fmt::format("num_key_value_heads = {} does not divide num_attention_heads = {}", h.n_kv_heads, h.n_heads));
  }
  if (h.n_kv_heads_full < 0 || (h.n_kv_heads_full > 0 && h.n_heads % h.n_kv_heads_full != 0)) {
    p.push_back(fmt::format("num_global_key_value_heads = {} does not divide num_attention_heads = {}",
                            h.n_kv_heads_full, h.n_heads));
  }
  kv_sharing_problems(h, p);
  if (h.ple_dim < 0 || h.ple_dim > kMaxDim)
    p.push_back(fmt::format("hidden_size_per_layer_input = {} is invalid", h.ple_dim));
  if (h.ple_dim > 0 && (h.ple_vocab < 1 || h.ple_vocab > h.vocab)) {
    p.push_back(fmt::format("vocab_size_per_layer_input = {} must be in [1, vocab_size]", h.ple_vocab));
  }
  if (!(h.final_softcap >= 0.0f) || !std::isfinite(h.final_softcap))
    p.push_back("final_logit_softcapping must be >= 0");
  if (!(h.rope_theta_swa > 0) || !(h.rope_theta_full > 0)) p.push_back("rope_parameters: rope_theta must be positive");
  if (!(h.partial_rotary_full > 0.0 && h.partial_rotary_full <= 1.0)) {
    p.push_back(fmt::format("rope_parameters: full_attention partial_rotary_factor = {} is not in (0, 1]",
                            h.partial_rotary_full));
  } else if (h.n_rot_pairs_full() < 1) {
    p.push_back("rope_parameters: full_attention partial_rotary_factor rotates no dimension");
  }
  if (h.moe) {
    dim("num_experts", h.n_experts, 1);
    dim("moe_intermediate_size", h.expert_ffn, 1);
    if (h.n_experts_used < 1 || h.n_experts_used > h.n_experts) {
      p.push_back(fmt::format("top_k_experts = {} must be in [1, num_experts = {}]", h.n_experts_used, h.n_experts));
    }
  }
  if (h.bidirectional == BidirectionalMode::kAll) {
    p.push_back("use_bidirectional_attention = \"all\" (non-causal text model) is not supported");
  }
  return p;
}

Status validate_hparams(const Gemma4Hparams& h, const std::string& where) {
  const std::vector<std::string> p = hparams_problems(h);
  if (p.empty()) return ok_status();
  return make_error(ErrorCode::kInvalidArgument, "{}: {} problem{}: {}", where, p.size(), p.size() == 1 ? "" : "s",
                    fmt::join(p, "; "));
}

}  // namespace specula::model
