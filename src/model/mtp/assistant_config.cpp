#include "model/mtp/assistant_config.h"

#include <algorithm>
#include <cmath>

namespace specula::model {
namespace {

constexpr int kMaxLayers = 64;
constexpr int64_t kMaxDim = 1 << 20;

std::string key(const char* suffix) { return std::string(kAssistantArch) + "." + suffix; }

Result<int> get_dim(const format::GgufFile& f, const std::string& k, int64_t min, int fallback, bool required) {
  if (f.find(k) == nullptr) {
    if (required) return make_error(ErrorCode::kCorruptData, "{}: metadata key '{}' is missing", f.path(), k);
    return fallback;
  }
  SPECULA_TRY(const int64_t v, f.get_int(k));
  if (v < min || v > kMaxDim) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' = {} is out of range [{}, {}]", f.path(), k, v, min, kMaxDim);
  }
  return static_cast<int>(v);
}

Result<double> get_real(const format::GgufFile& f, const std::string& k, double fallback) {
  if (f.find(k) == nullptr) return fallback;
  SPECULA_TRY(const double v, f.get_float(k));
  if (!std::isfinite(v) || v <= 0) return make_error(ErrorCode::kCorruptData, "{}: '{}' = {} is invalid", f.path(), k, v);
  return v;
}

// A per-layer count stored as a scalar or as an array of n values.
Result<std::vector<int>> per_layer(const format::GgufFile& f, const std::string& k, int n, int fallback, bool required) {
  const format::GgufValue* v = f.find(k);
  if (v == nullptr) {
    if (required) return make_error(ErrorCode::kCorruptData, "{}: metadata key '{}' is missing", f.path(), k);
    return std::vector<int>(static_cast<size_t>(n), fallback);
  }
  std::vector<int> out;
  if (const auto* arr = v->as_array()) {
    if (arr->items.size() != static_cast<size_t>(n)) {
      return make_error(ErrorCode::kCorruptData, "{}: '{}' has {} entries for {} layers", f.path(), k, arr->items.size(), n);
    }
    for (const auto& item : arr->items) {
      const auto x = item.as_int();
      if (!x || *x < 1 || *x > kMaxDim) return make_error(ErrorCode::kCorruptData, "{}: '{}' holds an invalid value", f.path(), k);
      out.push_back(static_cast<int>(*x));
    }
    return out;
  }
  SPECULA_TRY(const int x, get_dim(f, k, 1, 0, true));
  return std::vector<int>(static_cast<size_t>(n), x);
}

Result<std::vector<bool>> sliding_pattern(const format::GgufFile& f, int n) {
  const std::string k = key("attention.sliding_window_pattern");
  const format::GgufValue* v = f.find(k);
  if (v == nullptr) return make_error(ErrorCode::kCorruptData, "{}: metadata key '{}' is missing", f.path(), k);
  const auto* arr = v->as_array();
  if (arr == nullptr || arr->items.size() != static_cast<size_t>(n)) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' must be an array of {} bools", f.path(), k, n);
  }
  std::vector<bool> out;
  for (const auto& item : arr->items) {
    const auto b = item.as_bool();
    if (!b) return make_error(ErrorCode::kCorruptData, "{}: '{}' must hold bools", f.path(), k);
    out.push_back(*b);
  }
  return out;
}

Status fill_layers(const format::GgufFile& f, AssistantConfig& c) {
  SPECULA_TRY(const int key_len, get_dim(f, key("attention.key_length"), 1, 0, true));
  SPECULA_TRY(const int key_len_swa, get_dim(f, key("attention.key_length_swa"), 1, key_len, false));
  SPECULA_TRY(const int val_len, get_dim(f, key("attention.value_length"), 1, key_len, false));
  SPECULA_TRY(const int val_len_swa, get_dim(f, key("attention.value_length_swa"), 1, key_len_swa, false));
  if (val_len != key_len || val_len_swa != key_len_swa) {
    return make_error(ErrorCode::kUnsupported, "{}: value_length differing from key_length is not supported", f.path());
  }
  SPECULA_TRY(const int n_rot, get_dim(f, key("rope.dimension_count"), 2, key_len, false));
  SPECULA_TRY(const int n_rot_swa, get_dim(f, key("rope.dimension_count_swa"), 2, key_len_swa, false));
  SPECULA_TRY(const double theta, get_real(f, key("rope.freq_base"), 1e6));
  SPECULA_TRY(const double theta_swa, get_real(f, key("rope.freq_base_swa"), 1e4));
  SPECULA_TRY(const auto ffn, per_layer(f, key("feed_forward_length"), c.n_layers, 0, true));
  SPECULA_TRY(const auto kv_heads, per_layer(f, key("attention.head_count_kv"), c.n_layers, 0, true));
  SPECULA_TRY(const auto sliding, sliding_pattern(f, c.n_layers));
  c.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const size_t u = static_cast<size_t>(i);
    AssistantLayerSpec& l = c.layers[u];
    l.sliding = sliding[u];
    l.head_dim = l.sliding ? key_len_swa : key_len;
    l.n_kv_heads = kv_heads[u];
    l.ffn_dim = ffn[u];
    l.n_rot = l.sliding ? n_rot_swa : n_rot;
    l.rope_theta = l.sliding ? theta_swa : theta;
    l.rope_freq_factors = !l.sliding;
    if (c.n_heads % l.n_kv_heads != 0) {
      return make_error(ErrorCode::kCorruptData, "{}: layer {} has {} KV heads, which does not divide {} query heads",
                        f.path(), i, l.n_kv_heads, c.n_heads);
    }
    if (l.n_rot > l.head_dim || l.n_rot % 2 != 0 || l.head_dim % 2 != 0) {
      return make_error(ErrorCode::kCorruptData, "{}: layer {} rotates {} of {} head dims", f.path(), i, l.n_rot, l.head_dim);
    }
  }
  if (c.uses(true) && c.sliding_window < 1) {
    return make_error(ErrorCode::kCorruptData, "{}: the assistant has sliding layers but no attention.sliding_window",
                      f.path());
  }
  return ok_status();
}

}  // namespace

int AssistantConfig::max_head_dim() const {
  int m = 0;
  for (const auto& l : layers) m = std::max(m, l.head_dim);
  return m;
}

int AssistantConfig::max_ffn_dim() const {
  int m = 0;
  for (const auto& l : layers) m = std::max(m, l.ffn_dim);
  return m;
}

bool AssistantConfig::uses(bool sliding) const {
  return std::any_of(layers.begin(), layers.end(), [&](const AssistantLayerSpec& l) { return l.sliding == sliding; });
}

Result<AssistantConfig> read_assistant_config(const format::GgufFile& f) {
  const std::string arch = f.architecture();
  if (arch != kAssistantArch) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: architecture '{}' is not a Gemma 4 MTP assistant (expected '{}'; only Gemma 4 assistant "
                      "drafters can be used as --mtp-head)", f.path(), arch.empty() ? "(none)" : arch, kAssistantArch);
  }
  AssistantConfig c;
  SPECULA_TRY(c.n_layers, get_dim(f, key("block_count"), 1, 0, true));
  if (c.n_layers > kMaxLayers) return make_error(ErrorCode::kCorruptData, "{}: {} layers is too many", f.path(), c.n_layers);
  SPECULA_TRY(c.hidden, get_dim(f, key("embedding_length"), 1, 0, true));
  SPECULA_TRY(c.backbone, get_dim(f, key("embedding_length_out"), 1, 0, true));
  SPECULA_TRY(c.n_heads, get_dim(f, key("attention.head_count"), 1, 0, true));
  SPECULA_TRY(c.sliding_window, get_dim(f, key("attention.sliding_window"), 0, 0, false));
  SPECULA_TRY(c.centroid_top_k, get_dim(f, kAssistantCentroidTopKKey, 1, kDefaultCentroidTopK, false));
  SPECULA_TRY(const double eps, get_real(f, key("attention.layer_norm_rms_epsilon"), 1e-6));
  if (eps >= 1) return make_error(ErrorCode::kCorruptData, "{}: rms epsilon {} is invalid", f.path(), eps);
  c.rms_eps = static_cast<float>(eps);
  SPECULA_TRY(const int ple, get_dim(f, key("embedding_length_per_layer_input"), 0, 0, false));
  if (ple != 0) return make_error(ErrorCode::kUnsupported, "{}: an assistant with per-layer inputs is not supported", f.path());
  if (f.find(key("expert_count")) != nullptr) {
    return make_error(ErrorCode::kUnsupported, "{}: an assistant with MoE layers is not supported", f.path());
  }
  SPECULA_TRY(const int shared, get_dim(f, key("attention.shared_kv_layers"), 0, c.n_layers, false));
  if (shared != c.n_layers) {
    return make_error(ErrorCode::kCorruptData, "{}: shared_kv_layers is {} but every one of the {} assistant layers must "
                      "read the target's K/V", f.path(), shared, c.n_layers);
  }
  SPECULA_RETURN_IF_ERROR(fill_layers(f, c));
  return c;
}

Status check_assistant_compatible(const AssistantConfig& a, const TextConfig& t, int target_vocab) {
  if (t.arch != TextArch::kGemma4) {
    return make_error(ErrorCode::kInvalidArgument, "the MTP assistant drafts for Gemma 4 targets; the target is '{}'",
                      text_arch_name(t.arch));
  }
  if (a.backbone != t.hidden) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the assistant's backbone width (embedding_length_out) is {} but the target's hidden size is {}",
                      a.backbone, t.hidden);
  }
  if (a.vocab != target_vocab) {
    return make_error(ErrorCode::kInvalidArgument, "the assistant's vocabulary has {} tokens but the target's has {}",
                      a.vocab, target_vocab);
  }
  for (int i = 0; i < a.n_layers; ++i) {
    const AssistantLayerSpec& l = a.layers[static_cast<size_t>(i)];
    const char* kind = l.sliding ? "sliding" : "full";
    const int src = t.last_owner(l.sliding);
    if (src < 0) {
      return make_error(ErrorCode::kInvalidArgument, "assistant layer {} reads a {} attention layer but the target has no "
                        "KV-owning {} layer", i, kind, kind);
    }
    const LayerSpec& s = t.layers[static_cast<size_t>(src)];
    if (l.n_kv_heads != s.n_kv_heads) {
      return make_error(ErrorCode::kInvalidArgument, "assistant layer {} ({}) has {} KV heads but the target's source layer "
                        "{} has {}", i, kind, l.n_kv_heads, src, s.n_kv_heads);
    }
    if (l.head_dim != s.head_dim) {
      return make_error(ErrorCode::kInvalidArgument, "assistant layer {} ({}) has head dim {} but the target's source layer "
                        "{} has {}", i, kind, l.head_dim, src, s.head_dim);
    }
  }
  return ok_status();
}

}  // namespace specula::model
