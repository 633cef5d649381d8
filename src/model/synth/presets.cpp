#include "model/synth/presets.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/synth/tiny_vocab.h"

namespace specula::model {
namespace {

// layer_types of the released models: `period - 1` sliding layers, then one full layer, repeated.
std::vector<bool> pattern(int n_layers, int period) {
  std::vector<bool> s;
  for (int i = 0; i < n_layers; ++i) s.push_back((i + 1) % period != 0);
  return s;
}

// What every released text config shares (§1.2).
Gemma4Hparams released_base() {
  Gemma4Hparams h;
  h.vocab = 262144;
  h.ple_vocab = 262144;
  h.head_dim = 256;
  h.head_dim_full = 512;
  h.rms_eps = 1e-6f;
  h.final_softcap = 30.0f;
  h.rope_theta_swa = 10000.0;
  h.rope_theta_full = 1000000.0;
  h.partial_rotary_full = 0.25;
  h.tied_embeddings = true;
  return h;
}

SynthPreset e2b() {
  Gemma4Hparams h = released_base();
  h.hidden = 1536, h.n_layers = 35, h.sliding = pattern(35, 5);
  h.n_heads = 8, h.n_kv_heads = 1, h.ffn = 6144, h.double_wide_mlp = true, h.n_kv_shared = 20;
  h.ple_dim = 256, h.sliding_window = 512, h.context_length = 131072;
  return {"e2b", "gemma-4-E2B (synthetic)", h, false};
}

SynthPreset e4b() {
  Gemma4Hparams h = released_base();
  h.hidden = 2560, h.n_layers = 42, h.sliding = pattern(42, 6);
  h.n_heads = 8, h.n_kv_heads = 2, h.ffn = 10240, h.n_kv_shared = 18;
  h.ple_dim = 256, h.sliding_window = 512, h.context_length = 131072;
  return {"e4b", "gemma-4-E4B (synthetic)", h, false};
}

SynthPreset moe_26b() {
  Gemma4Hparams h = released_base();
  h.hidden = 2816, h.n_layers = 30, h.sliding = pattern(30, 6);
  h.n_heads = 16, h.n_kv_heads = 8, h.n_kv_heads_full = 2, h.k_eq_v = true, h.ffn = 2112;
  h.moe = true, h.n_experts = 128, h.n_experts_used = 8, h.expert_ffn = 704;
  h.sliding_window = 1024, h.context_length = 262144, h.bidirectional = BidirectionalMode::kVision;
  return {"26b-a4b", "gemma-4-26B-A4B (synthetic)", h, false};
}

SynthPreset dense_31b() {
  Gemma4Hparams h = released_base();
  h.hidden = 5376, h.n_layers = 60, h.sliding = pattern(60, 6);
  h.n_heads = 32, h.n_kv_heads = 16, h.n_kv_heads_full = 4, h.k_eq_v = true, h.ffn = 21504;
  h.sliding_window = 1024, h.context_length = 262144, h.bidirectional = BidirectionalMode::kVision;
  return {"31b", "gemma-4-31B (synthetic)", h, false};
}

// Small test models: head dims 64 (sliding) / 128 (full) so that every KV codec applies; widths that are
// multiples of 256 so that K-quants apply to most matrices.
Gemma4Hparams tiny_base() {
  Gemma4Hparams h = released_base();
  h.vocab = static_cast<int>(tiny_vocab_size());
  h.ple_vocab = h.vocab;
  h.head_dim = 64, h.head_dim_full = 128;
  h.hidden = 256, h.n_heads = 4, h.n_kv_heads = 2;
  h.sliding_window = 32, h.context_length = 4096;
  return h;
}

SynthPreset tiny() {
  Gemma4Hparams h = tiny_base();
  h.n_layers = 8, h.sliding = pattern(8, 4);                 // [S,S,S,F] x 2
  h.ffn = 512, h.double_wide_mlp = true, h.n_kv_shared = 4;  // layers 4..7 read layers 2 (S) and 3 (F)
  h.ple_dim = 32;
  return {"tiny", "specula-tiny (synthetic)", h, true};
}

SynthPreset tiny_moe() {
  Gemma4Hparams h = tiny_base();
  h.n_layers = 4, h.sliding = pattern(4, 2);  // [S,F] x 2
  h.n_kv_heads_full = 1, h.k_eq_v = true, h.ffn = 512;
  h.moe = true, h.n_experts = 8, h.n_experts_used = 2, h.expert_ffn = 128;
  h.bidirectional = BidirectionalMode::kVision;
  return {"tiny-moe", "specula-tiny-moe (synthetic)", h, true};
}

}  // namespace

const std::vector<std::string>& synth_preset_names() {
  static const std::vector<std::string> kNames = {"e2b", "e4b", "26b-a4b", "31b", "tiny", "tiny-moe"};
  return kNames;
}

Result<SynthPreset> synth_preset(std::string_view name) {
  if (name == "e2b") return e2b();
  if (name == "e4b") return e4b();
  if (name == "26b-a4b") return moe_26b();
  if (name == "31b") return dense_31b();
  if (name == "tiny") return tiny();
  if (name == "tiny-moe") return tiny_moe();
  return make_error(ErrorCode::kInvalidArgument, "unknown preset '{}' (choose one of {})", name,
                    fmt::join(synth_preset_names(), ", "));
}

}  // namespace specula::model
