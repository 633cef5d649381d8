// llama.cpp-compatible tensor type selection for the supported file types (see recipe.h).
#include "quant/recipe.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace specula::quant {

using format::GgmlType;

namespace {

struct FileTypeInfo {
  FileType type;
  std::string_view name;  // canonical, as llama-quantize prints it
  GgmlType base;
};

constexpr std::array kFileTypes = {
    FileTypeInfo{FileType::kAllF32, "F32", GgmlType::kF32},
    FileTypeInfo{FileType::kMostlyF16, "F16", GgmlType::kF16},
    FileTypeInfo{FileType::kMostlyBF16, "BF16", GgmlType::kBF16},
    FileTypeInfo{FileType::kMostlyQ8_0, "Q8_0", GgmlType::kQ8_0},
    FileTypeInfo{FileType::kMostlyQ4_0, "Q4_0", GgmlType::kQ4_0},
    FileTypeInfo{FileType::kMostlyQ4_1, "Q4_1", GgmlType::kQ4_1},
    FileTypeInfo{FileType::kMostlyQ5_0, "Q5_0", GgmlType::kQ5_0},
    FileTypeInfo{FileType::kMostlyQ5_1, "Q5_1", GgmlType::kQ5_1},
    FileTypeInfo{FileType::kMostlyQ4_K_S, "Q4_K_S", GgmlType::kQ4_K},
    FileTypeInfo{FileType::kMostlyQ4_K_M, "Q4_K_M", GgmlType::kQ4_K},
    FileTypeInfo{FileType::kMostlyQ5_K_S, "Q5_K_S", GgmlType::kQ5_K},
    FileTypeInfo{FileType::kMostlyQ5_K_M, "Q5_K_M", GgmlType::kQ5_K},
    FileTypeInfo{FileType::kMostlyQ6_K, "Q6_K", GgmlType::kQ6_K},
};

const FileTypeInfo& info(FileType type) {
  for (const auto& i : kFileTypes) {
    if (i.type == type) return i;
  }
  return kFileTypes[0];  // unreachable for valid enumerators
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

bool is_quantized(GgmlType t) { return format::ggml_traits(t).block_size > 1; }

int64_t block_size(GgmlType t) { return format::ggml_traits(t).block_size; }

// Layers whose attn_v / ffn_down get more bits in the _M mixes: the first and last eighth, and every
// third layer in between.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// The N of a "blk.N." prefix, or -1.
int layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return -1;
  int layer = -1;
  const char* begin = name.data() + kPrefix.size();
  const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), layer);
  return (ec == std::errc() && end != begin) ? layer : -1;
}

// llama_tensor_get_type's name rules for the supported file types, before the row-length fallback.
GgmlType rule_type(FileType ft, GgmlType type, const RecipeTensor& t, const RecipeModel& m) {
  const std::string_view name = t.name;
  const int64_t nx = t.dims.empty() ? 1 : t.dims[0];
  const bool k_m = ft == FileType::kMostlyQ4_K_M || ft == FileType::kMostlyQ5_K_M;
  if (name == "output.weight" || (!m.has_output && name == "token_embd.weight")) {
    if (nx % block_size(type) != 0) return GgmlType::kQ8_0;
    return type != GgmlType::kQ8_0 ? GgmlType::kQ6_K : type;
  }
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return type;
  if (contains(name, "attn_v.weight")) {
    if (k_m && use_more_bits(t.attn_v_index, m.n_attn_v)) type = GgmlType::kQ6_K;
    else if (ft == FileType::kMostlyQ4_K_S && t.attn_v_index < 4) type = GgmlType::kQ5_K;
    if (m.n_expert == 8) type = GgmlType::kQ8_0;
    return type;
  }
  if (contains(name, "attn_k.weight")) return m.n_expert == 8 ? GgmlType::kQ8_0 : type;
  if (contains(name, "attn_q.weight")) return type;
  if (contains(name, "ffn_down")) {
    int i_layer = t.ffn_down_index;
    if (m.n_expert > 1 && layer_of(name) >= 0) i_layer = layer_of(name);
    const int n_layer = m.n_layers;
    if (k_m && use_more_bits(i_layer, n_layer)) return GgmlType::kQ6_K;
    if (ft == FileType::kMostlyQ4_K_S && i_layer < n_layer / 8) return GgmlType::kQ5_K;
    return type;
  }
  if (contains(name, "attn_output.weight")) {
    const bool k4 = ft == FileType::kMostlyQ4_K_S || ft == FileType::kMostlyQ4_K_M;
    return (m.n_expert == 8 && k4) ? GgmlType::kQ5_K : type;
  }
  if (contains(name, "attn_qkv.weight")) {
    if (ft == FileType::kMostlyQ4_K_M) return GgmlType::kQ5_K;
    if (ft == FileType::kMostlyQ5_K_M) return GgmlType::kQ6_K;
  }
  return type;
}

// A type whose block divides the row length: llama.cpp's substitutes for the K-quants, then F16.
TypeChoice fit_row_length(GgmlType type, int64_t nx) {
  if (nx % block_size(type) == 0) return {type, false};
  switch (type) {
    case GgmlType::kQ4_K: type = GgmlType::kQ5_0; break;
    case GgmlType::kQ5_K: type = GgmlType::kQ5_1; break;
    case GgmlType::kQ6_K: type = GgmlType::kQ8_0; break;
    default: type = GgmlType::kF16; break;  // llama.cpp refuses these shapes; F16 always fits
  }
  if (nx % block_size(type) != 0) type = GgmlType::kF16;
  return {type, true};
}

}  // namespace

Result<FileType> parse_file_type(std::string_view name) {
  for (const auto& i : kFileTypes) {
    if (iequals(i.name, name)) return i.type;
  }
  if (iequals(name, "q4_k")) return FileType::kMostlyQ4_K_M;
  if (iequals(name, "q5_k")) return FileType::kMostlyQ5_K_M;
  return make_error(ErrorCode::kInvalidArgument, "unknown quantization type '{}' (expected one of: {})", name,
                    file_type_names());
}

std::string_view file_type_name(FileType type) { return info(type).name; }

std::string file_type_names() {
  std::string out;
  for (const auto& i : kFileTypes) {
    std::string lower(i.name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (out.empty() ? "" : ", ") + lower;
  }
  return out + ", q4_k (= q4_k_m), q5_k (= q5_k_m)";
}

GgmlType file_type_base(FileType type) { return info(type).base; }

bool should_quantize(std::string_view name, size_t n_dims) {
  constexpr std::string_view kSuffix = "weight";
  if (name.size() < kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  if (n_dims < 2) return false;
  static constexpr std::string_view kNever[] = {
      "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d.weight",
      "shortconv.conv.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
      "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
      "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
      "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
      "time_mix_lerp_fused.weight", "attn_rel_b.weight"};
  for (std::string_view part : kNever) {
    if (contains(name, part)) return false;
  }
  return name != "position_embd.weight" && name != "token_types.weight";
}

TypeChoice recipe_tensor_type(FileType file_type, const RecipeTensor& tensor, const RecipeModel& model, bool pure) {
  const GgmlType base = file_type_base(file_type);
  if (!is_quantized(base)) return {base, false};
  const GgmlType type = pure ? base : rule_type(file_type, base, tensor, model);
  return fit_row_length(type, tensor.dims.empty() ? 1 : tensor.dims[0]);
}

std::vector<PlannedType> plan_file(FileType file_type, std::span<const PlanTensor> tensors, int n_layers,
                                   int n_expert, bool pure) {
  RecipeModel model;
  model.n_layers = n_layers;
  model.n_expert = n_expert;
  for (const auto& t : tensors) {
    if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") ||
        contains(t.name, "attn_kv_b.weight")) {
      ++model.n_attn_v;
    } else if (t.name == "output.weight") {
      model.has_output = true;
    }
  }
  std::vector<PlannedType> out;
  out.reserve(tensors.size());
  int i_attn_v = 0, i_ffn_down = 0;
  for (const auto& t : tensors) {
    if (!should_quantize(t.name, t.dims.size())) {
      out.push_back({t.type, false, false});
      continue;
    }
    const RecipeTensor rt{t.name, t.dims, i_attn_v, i_ffn_down};
    const TypeChoice choice = recipe_tensor_type(file_type, rt, model, pure);
    // llama.cpp advances these counters only where its rules ran (quantized mixes, not --pure).
    if (!pure && is_quantized(file_type_base(file_type))) {
      if (contains(t.name, "attn_v.weight")) {
        ++i_attn_v;
      } else if (contains(t.name, "ffn_down")) {
        ++i_ffn_down;
      }
    }
    out.push_back({choice.type, true, choice.fallback});
  }
  return out;
}

bool llama_tensor_order(std::string_view a, std::string_view b) {
  const int la = layer_of(a), lb = layer_of(b);
  if (la != lb) return la < lb;
  return a < b;
}

}  // namespace specula::quant
