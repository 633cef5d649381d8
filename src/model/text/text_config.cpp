#include "model/text/text_config.h"

#include <algorithm>
#include <cmath>

namespace specula::model {
namespace {

constexpr int kMaxLayers = 1024;
constexpr int64_t kMaxDim = 1 << 20;

const char* kArchNames[] = {"gemma4", "gemma3", "llama"};

// A per-layer integer that GGUF stores either as a scalar or as an array of n_layers values.
Result<std::vector<int>> per_layer_int(const format::GgufFile& f, const std::string& key, int n_layers,
                                       bool required, int fallback) {
  const format::GgufValue* v = f.find(key);
  if (v == nullptr) {
    if (required) return make_error(ErrorCode::kCorruptData, "{}: metadata key '{}' is missing", f.path(), key);
    return std::vector<int>(static_cast<size_t>(n_layers), fallback);
  }
  std::vector<int> out;
  if (const auto* arr = v->as_array()) {
    if (arr->items.size() != static_cast<size_t>(n_layers)) {
      return make_error(ErrorCode::kCorruptData, "{}: '{}' has {} entries for {} layers", f.path(), key,
                        arr->items.size(), n_layers);
    }
    for (const auto& item : arr->items) {
      const auto x = item.as_int();
      if (!x || *x < 0 || *x > kMaxDim) {
        return make_error(ErrorCode::kCorruptData, "{}: '{}' holds an invalid value {}", f.path(), key, item.to_display());
      }
      out.push_back(static_cast<int>(*x));
    }
    return out;
  }
  const auto x = v->as_int();
  if (!x || *x < 0 || *x > kMaxDim) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' has invalid value {}", f.path(), key, v->to_display());
  }
  return std::vector<int>(static_cast<size_t>(n_layers), static_cast<int>(*x));
}

Result<int> get_dim(const format::GgufFile& f, const std::string& key, int64_t min, int fallback, bool required) {
  if (f.find(key) == nullptr) {
    if (required) return make_error(ErrorCode::kCorruptData, "{}: metadata key '{}' is missing", f.path(), key);
    return fallback;
  }
  SPECULA_TRY(const int64_t v, f.get_int(key));
  if (v < min || v > kMaxDim) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' = {} is out of range [{}, {}]", f.path(), key, v, min, kMaxDim);
  }
  return static_cast<int>(v);
}

Result<double> get_real(const format::GgufFile& f, const std::string& key, double fallback) {
  if (f.find(key) == nullptr) return fallback;
  SPECULA_TRY(const double v, f.get_float(key));
  if (!std::isfinite(v)) return make_error(ErrorCode::kCorruptData, "{}: '{}' is not finite", f.path(), key);
  return v;
}

// Gemma 3 checkpoints are trained with every 6th layer global (HF Gemma3TextConfig's default layer_types);
// llama.cpp's converter writes no pattern key for them and its loader hard-codes the same period.
constexpr int kGemma3SlidingPeriod = 6;

std::vector<bool> periodic_pattern(int n_layers, int period) {
  std::vector<bool> out(static_cast<size_t>(n_layers), false);
  for (int i = 0; i < n_layers; ++i) out[static_cast<size_t>(i)] = ((i + 1) % period) != 0;
  return out;
}

// Sliding pattern: gemma4/gemma3 store a bool per layer (true = sliding). Absent: gemma3 uses its fixed period,
// other architectures have no sliding layers.
Result<std::vector<bool>> sliding_pattern(const format::GgufFile& f, const std::string& arch, int n_layers) {
  const std::string key = arch + ".attention.sliding_window_pattern";
  const format::GgufValue* v = f.find(key);
  std::vector<bool> out(static_cast<size_t>(n_layers), false);
  if (v == nullptr) return arch == "gemma3" ? periodic_pattern(n_layers, kGemma3SlidingPeriod) : out;
  if (const auto* arr = v->as_array()) {
    if (arr->items.size() != static_cast<size_t>(n_layers)) {
      return make_error(ErrorCode::kCorruptData, "{}: '{}' has {} entries for {} layers", f.path(), key,
                        arr->items.size(), n_layers);
    }
    for (size_t i = 0; i < arr->items.size(); ++i) {
      const auto b = arr->items[i].as_bool();
      const auto n = arr->items[i].as_int();
      if (!b && !n) return make_error(ErrorCode::kCorruptData, "{}: '{}' must hold bools", f.path(), key);
      out[i] = b ? *b : (*n != 0);
    }
    return out;
  }
  // A scalar period p: every p-th layer (1-based) is full attention (older gemma3 converters).
  SPECULA_TRY(const int64_t period, f.get_int(key));
  if (period <= 0 || period > kMaxLayers) return make_error(ErrorCode::kCorruptData, "{}: bad '{}'", f.path(), key);
  return periodic_pattern(n_layers, static_cast<int>(period));
}

Result<TextArch> parse_arch(const format::GgufFile& f) {
  const std::string arch = f.architecture();
  for (int i = 0; i < 3; ++i) {
    if (arch == kArchNames[i]) return static_cast<TextArch>(i);
  }
  if (arch.empty()) return make_error(ErrorCode::kCorruptData, "{}: general.architecture is missing", f.path());
  return make_error(ErrorCode::kUnsupported, "{}: architecture '{}' is not a supported text model (gemma4, gemma3, llama)",
                    f.path(), arch);
}

// Fills kv_source/kv_slot: the last `n_shared` layers reuse the K/V of the last earlier layer of the same kind.
Status assign_kv_sources(TextConfig& c, const std::string& path) {
  const int first_shared = c.n_layers - c.n_shared_kv_layers;
  int slot = 0;
  for (int i = 0; i < c.n_layers; ++i) {
    auto& l = c.layers[static_cast<size_t>(i)];
    if (i < first_shared) {
      l.kv_source = i;
      l.kv_slot = slot++;
      continue;
    }
    int src = -1;
    for (int j = first_shared - 1; j >= 0; --j) {
      if (c.layers[static_cast<size_t>(j)].sliding == l.sliding) {
        src = j;
        break;
      }
    }
    if (src < 0) {
      return make_error(ErrorCode::kCorruptData, "{}: shared-KV layer {} has no earlier {} layer to read K/V from", path, i,
                        l.sliding ? "sliding" : "full");
    }
    const auto& s = c.layers[static_cast<size_t>(src)];
    if (s.head_dim != l.head_dim || s.n_kv_heads != l.n_kv_heads) {
      return make_error(ErrorCode::kCorruptData, "{}: shared-KV layer {} (head dim {}, {} KV heads) does not match its "
                        "source layer {} ({}, {})", path, i, l.head_dim, l.n_kv_heads, src, s.head_dim, s.n_kv_heads);
    }
    l.kv_source = src;
    l.kv_slot = -1;
  }
  return ok_status();
}

}  // namespace

const char* text_arch_name(TextArch arch) { return kArchNames[static_cast<int>(arch)]; }

int TextConfig::n_kv_slots() const {
  return static_cast<int>(std::count_if(layers.begin(), layers.end(), [](const LayerSpec& l) { return l.owns_kv(); }));
}

int TextConfig::max_head_dim() const {
  int m = 0;
  for (const auto& l : layers) m = std::max(m, l.head_dim);
  return m;
}

int TextConfig::max_ffn_dim() const {
  int m = 0;
  for (const auto& l : layers) m = std::max(m, l.ffn_dim);
  return m;
}

int TextConfig::last_owner(bool sliding) const {
  for (int i = n_layers - 1; i >= 0; --i) {
    const auto& l = layers[static_cast<size_t>(i)];
    if (l.owns_kv() && l.sliding == sliding) return i;
  }
  return -1;
}

Result<TextConfig> read_text_config(const format::GgufFile& f) {
  TextConfig c;
  SPECULA_TRY(c.arch, parse_arch(f));
  const std::string a = f.architecture() + ".";
  SPECULA_TRY(c.n_layers, get_dim(f, a + "block_count", 1, 0, true));
  if (c.n_layers > kMaxLayers) return make_error(ErrorCode::kCorruptData, "{}: {} layers is too many", f.path(), c.n_layers);
  SPECULA_TRY(c.hidden, get_dim(f, a + "embedding_length", 1, 0, true));
  SPECULA_TRY(c.n_heads, get_dim(f, a + "attention.head_count", 1, 0, true));
  SPECULA_TRY(c.context_length, get_dim(f, a + "context_length", 1, 4096, false));
  SPECULA_TRY(const double eps, get_real(f, a + "attention.layer_norm_rms_epsilon", 1e-6));
  if (!(eps > 0 && eps < 1)) return make_error(ErrorCode::kCorruptData, "{}: rms epsilon {} is invalid", f.path(), eps);
  c.rms_eps = static_cast<float>(eps);
  SPECULA_TRY(c.sliding_window, get_dim(f, a + "attention.sliding_window", 0, 0, false));
  SPECULA_TRY(c.n_shared_kv_layers, get_dim(f, a + "attention.shared_kv_layers", 0, 0, false));
  if (c.n_shared_kv_layers >= c.n_layers) {
    return make_error(ErrorCode::kCorruptData, "{}: {} shared-KV layers leave no layer that owns KV", f.path(), c.n_shared_kv_layers);
  }
  SPECULA_TRY(const double softcap, get_real(f, a + "final_logit_softcapping", 0.0));
  if (softcap < 0) return make_error(ErrorCode::kCorruptData, "{}: negative final_logit_softcapping", f.path());
  c.final_softcap = static_cast<float>(softcap);
  SPECULA_TRY(c.ple_dim, get_dim(f, a + "embedding_length_per_layer_input", 0, 0, false));
  SPECULA_TRY(c.n_experts, get_dim(f, a + "expert_count", 0, 0, false));
  SPECULA_TRY(c.n_experts_used, get_dim(f, a + "expert_used_count", 0, 0, false));
  SPECULA_TRY(c.expert_ffn_dim, get_dim(f, a + "expert_feed_forward_length", 0, 0, c.n_experts > 0));
  if (c.n_experts > 0 && (c.n_experts_used < 1 || c.n_experts_used > c.n_experts)) {
    return make_error(ErrorCode::kCorruptData, "{}: expert_used_count {} must be in [1, expert_count {}]", f.path(),
                      c.n_experts_used, c.n_experts);
  }

  const int head_dim_default = c.hidden / c.n_heads;
  SPECULA_TRY(const int key_len, get_dim(f, a + "attention.key_length", 1, head_dim_default, false));
  SPECULA_TRY(const int key_len_swa, get_dim(f, a + "attention.key_length_swa", 1, key_len, false));
  SPECULA_TRY(const int val_len, get_dim(f, a + "attention.value_length", 1, key_len, false));
  SPECULA_TRY(const int val_len_swa, get_dim(f, a + "attention.value_length_swa", 1, key_len_swa, false));
  if (val_len != key_len || val_len_swa != key_len_swa) {
    return make_error(ErrorCode::kUnsupported, "{}: value_length differing from key_length is not supported", f.path());
  }
  SPECULA_TRY(const int n_rot, get_dim(f, a + "rope.dimension_count", 1, key_len, false));
  SPECULA_TRY(const int n_rot_swa, get_dim(f, a + "rope.dimension_count_swa", 1, key_len_swa, false));
  SPECULA_TRY(const double theta, get_real(f, a + "rope.freq_base", 10000.0));
  SPECULA_TRY(const double theta_swa, get_real(f, a + "rope.freq_base_swa", c.arch == TextArch::kGemma3 ? 10000.0 : theta));
  SPECULA_TRY(const auto ffn, per_layer_int(f, a + "feed_forward_length", c.n_layers, true, 0));
  SPECULA_TRY(const auto kv_heads, per_layer_int(f, a + "attention.head_count_kv", c.n_layers, false, c.n_heads));
  SPECULA_TRY(const auto sliding, sliding_pattern(f, f.architecture(), c.n_layers));

  c.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    auto& l = c.layers[static_cast<size_t>(i)];
    const size_t u = static_cast<size_t>(i);
    l.sliding = sliding[u] && c.sliding_window > 0;
    l.head_dim = l.sliding ? key_len_swa : key_len;
    l.n_kv_heads = kv_heads[u];
    l.ffn_dim = ffn[u];
    l.n_rot = l.sliding ? n_rot_swa : n_rot;
    l.rope_theta = l.sliding ? theta_swa : theta;
    l.rope_freq_factors = c.arch == TextArch::kGemma4 && !l.sliding;
    if (l.n_kv_heads < 1 || c.n_heads % l.n_kv_heads != 0) {
      return make_error(ErrorCode::kCorruptData, "{}: layer {} has {} KV heads, which does not divide {} query heads", f.path(),
                        i, l.n_kv_heads, c.n_heads);
    }
    if (l.n_rot > l.head_dim || l.n_rot % 2 != 0 || l.head_dim % 2 != 0) {
      return make_error(ErrorCode::kCorruptData, "{}: layer {} rotates {} of {} head dims", f.path(), i, l.n_rot, l.head_dim);
    }
    if (l.rope_theta <= 0) return make_error(ErrorCode::kCorruptData, "{}: rope frequency base must be positive", f.path());
  }
  SPECULA_RETURN_IF_ERROR(assign_kv_sources(c, f.path()));

  switch (c.arch) {
    case TextArch::kGemma4: {
      c.attn_scale = 1.0f;
      c.embed_scale = std::sqrt(static_cast<float>(c.hidden));
      if (f.find(a + "attention.bidirectional_vision") != nullptr) {
        SPECULA_TRY(c.bidirectional_images, f.get_bool(a + "attention.bidirectional_vision"));
      }
      break;
    }
    case TextArch::kGemma3: {
      // Gemma 3 vs Gemma 4, checked against transformers 5.17 models/gemma3/modeling_gemma3.py and against its
      // logits on google/gemma-3-270m's weights (tests/unit/model/real_models_test.cpp):
      //  * RMSNorm multiplies by (1 + w); llama.cpp's converter already stored 1 + w in the GGUF, so the stored
      //    weight is used as is (as for Gemma 4). Applies to attn/ffn/post norms, q_norm, k_norm, output_norm.
      //  * q_norm and k_norm as in Gemma 4, but no weightless v_norm (text_forward.cpp: Gemma 4 only).
      //  * query scale query_pre_attn_scalar^-0.5 (Gemma 4: 1). The GGUF does not store it; llama.cpp uses
      //    key_length, except for the 27B (62 layers), whose scalar is hidden / heads = 168.
      //  * layer_types: every 6th layer global, the rest sliding (window 512 for 270M/1B, 1024 above); the GGUF
      //    has no pattern key (sliding_pattern() above). Same head dim and KV heads on every layer.
      //  * RoPE NeoX on all dims; global layers rope.freq_base (1e6), sliding layers 10000 (rope_local_base_freq,
      //    not in the GGUF); no proportional/partial RoPE or frequency factors. 4B and larger add linear
      //    scaling (factor 8) on global layers: refused below until it is implemented and tested.
      //  * embeddings scaled by sqrt(hidden), gelu_pytorch_tanh MLP, tied LM head: as Gemma 4. No final or
      //    attention logit soft-cap (both null in the configs), no PLE, KV sharing, MoE, k_eq_v or
      //    layer_output_scale.
      const double default_qpas = c.n_layers == 62 ? static_cast<double>(c.hidden) / c.n_heads : key_len;
      SPECULA_TRY(const double qpas, get_real(f, a + "attention.query_pre_attn_scalar", default_qpas));
      SPECULA_TRY(const double rope_scale, get_real(f, a + "rope.scaling.factor", 1.0));
      if (rope_scale != 1.0) {
        return make_error(ErrorCode::kUnsupported, "{}: Gemma 3 with RoPE scaling (factor {}, the 4B and larger "
                          "models) is not supported yet; the 270M and 1B models are", f.path(), rope_scale);
      }
      if (qpas <= 0) return make_error(ErrorCode::kCorruptData, "{}: query_pre_attn_scalar must be positive", f.path());
      c.attn_scale = static_cast<float>(1.0 / std::sqrt(qpas));
      c.embed_scale = std::sqrt(static_cast<float>(c.hidden));
      break;
    }
    case TextArch::kLlama:
      c.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(key_len)));
      c.embed_scale = 1.0f;
      c.rope_style = RopeStyle::kInterleaved;
      break;
  }
  return c;
}

}  // namespace specula::model
