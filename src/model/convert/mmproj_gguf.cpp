#include "model/convert/mmproj_gguf.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "model/vision/vision_model.h"

namespace specula::model {
namespace {

constexpr const char* kTower = "model.vision_tower.";
constexpr const char* kClampSuffixes[] = {"input_max", "input_min", "output_max", "output_min"};

struct Adder {
  std::vector<MmprojTensor>& out;
  void operator()(std::string name, std::string hf, std::vector<int64_t> hf_shape, TensorKind kind, int layer) {
    std::vector<int64_t> dims(hf_shape.rbegin(), hf_shape.rend());
    if (dims.empty()) dims = {1};  // 0-d clamp scalars become [1] (llama.cpp's unsqueeze)
    out.push_back({{std::move(name), std::move(hf), std::move(dims), kind, layer}, std::move(hf_shape)});
  }
};

// A (Clippable)Linear of layer `layer`: weight [rows, cols] (PyTorch) and, when clipped, its four clamps.
void add_linear(Adder& add, const MmprojHparams& h, int layer, const std::string& gguf_base, const std::string& hf_base,
                int64_t rows, int64_t cols) {
  add(gguf_base + ".weight", hf_base + ".linear.weight", {rows, cols}, TensorKind::kMatrix, layer);
  if (!h.clipped) return;
  for (const char* s : kClampSuffixes) add(gguf_base + "." + s, hf_base + "." + s, {}, TensorKind::kNorm, layer);
}

void add_layer(Adder& add, const MmprojHparams& h, int i) {
  const std::string b = "v.blk." + std::to_string(i) + ".";
  const std::string l = std::string(kTower) + "encoder.layers." + std::to_string(i) + ".";
  const int64_t d = h.hidden, ff = h.intermediate, hd = h.head_dim();
  add(b + "ln1.weight", l + "input_layernorm.weight", {d}, TensorKind::kNorm, i);
  add_linear(add, h, i, b + "ffn_down", l + "mlp.down_proj", d, ff);
  add_linear(add, h, i, b + "ffn_gate", l + "mlp.gate_proj", ff, d);
  add_linear(add, h, i, b + "ffn_up", l + "mlp.up_proj", ff, d);
  add(b + "attn_post_norm.weight", l + "post_attention_layernorm.weight", {d}, TensorKind::kNorm, i);
  add(b + "ffn_post_norm.weight", l + "post_feedforward_layernorm.weight", {d}, TensorKind::kNorm, i);
  add(b + "ln2.weight", l + "pre_feedforward_layernorm.weight", {d}, TensorKind::kNorm, i);
  add(b + "attn_k_norm.weight", l + "self_attn.k_norm.weight", {hd}, TensorKind::kNorm, i);
  add_linear(add, h, i, b + "attn_k", l + "self_attn.k_proj", d, d);
  add_linear(add, h, i, b + "attn_out", l + "self_attn.o_proj", d, d);
  add(b + "attn_q_norm.weight", l + "self_attn.q_norm.weight", {hd}, TensorKind::kNorm, i);
  add_linear(add, h, i, b + "attn_q", l + "self_attn.q_proj", d, d);
  add_linear(add, h, i, b + "attn_v", l + "self_attn.v_proj", d, d);
}

}  // namespace

Status validate_mmproj_hparams(const MmprojHparams& h, const std::string& where) {
  std::vector<std::string> p;
  const auto dim = [&](const char* name, int v, int min) {
    if (v < min || v > (1 << 20)) p.push_back(fmt::format("{} = {} is out of range", name, v));
  };
  dim("hidden_size", h.hidden, 4);
  dim("intermediate_size", h.intermediate, 1);
  dim("num_hidden_layers", h.n_layers, 1);
  dim("num_attention_heads", h.n_heads, 1);
  dim("patch_size", h.patch_size, 1);
  dim("position_embedding_size", h.n_positions, 1);
  dim("text hidden_size", h.text_hidden, 1);
  if (h.n_heads > 0 && (h.hidden % h.n_heads != 0 || h.head_dim() % 4 != 0)) {
    p.push_back(fmt::format("hidden_size {} is not num_attention_heads {} x a head dim divisible by 4", h.hidden,
                            h.n_heads));
  }
  if (!(h.eps > 0.0f && h.eps < 1.0f)) p.push_back(fmt::format("the norm epsilon {} is out of range", h.eps));
  if (p.empty()) return ok_status();
  return make_error(ErrorCode::kInvalidArgument, "{}: {} problem{}: {}", where, p.size(), p.size() == 1 ? "" : "s",
                    fmt::join(p, "; "));
}

std::string mmproj_size_label(uint64_t n) {
  const double count = static_cast<double>(n);
  double scaled = count * 1e-3;
  char suffix = 'K';
  if (count > 1e12) {
    scaled = count * 1e-12, suffix = 'T';
  } else if (count > 1e9) {
    scaled = count * 1e-9, suffix = 'B';
  } else if (count > 1e6) {
    scaled = count * 1e-6, suffix = 'M';
  }
  // Python: max(min_digits - len(str(round(x)).lstrip('0')), 0) decimals; round() is half-to-even.
  const auto rounded = static_cast<long long>(std::nearbyint(scaled));
  const size_t digits = rounded == 0 ? 0 : std::to_string(rounded).size();
  const int fix = std::max(2 - static_cast<int>(digits), 0);
  return fmt::format("{:.{}f}{}", scaled, fix, suffix);
}

Status add_mmproj_metadata(const MmprojHparams& h, const std::string& model_name, const std::string& size_label,
                           quant::FileType file_type, format::GgufWriter& w) {
  const auto u32 = [](int v) { return static_cast<uint32_t>(v); };
  SPECULA_RETURN_IF_ERROR(w.set_string("general.architecture", "clip"));
  SPECULA_RETURN_IF_ERROR(w.set_string("general.type", "mmproj"));
  if (!model_name.empty()) SPECULA_RETURN_IF_ERROR(w.set_string("general.name", model_name));
  if (!size_label.empty()) SPECULA_RETURN_IF_ERROR(w.set_string("general.size_label", size_label));
  SPECULA_RETURN_IF_ERROR(w.set_u32("general.file_type", static_cast<uint32_t>(file_type)));
  SPECULA_RETURN_IF_ERROR(w.set_bool("clip.has_vision_encoder", true));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.projection_dim", u32(h.text_hidden)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.image_size", u32(h.image_size)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.patch_size", u32(h.patch_size)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.embedding_length", u32(h.hidden)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.feed_forward_length", u32(h.intermediate)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.block_count", u32(h.n_layers)));
  SPECULA_RETURN_IF_ERROR(w.set_u32("clip.vision.attention.head_count", u32(h.n_heads)));
  SPECULA_RETURN_IF_ERROR(w.set_array("clip.vision.image_mean", std::vector<float>(h.image_mean.begin(), h.image_mean.end())));
  SPECULA_RETURN_IF_ERROR(w.set_array("clip.vision.image_std", std::vector<float>(h.image_std.begin(), h.image_std.end())));
  SPECULA_RETURN_IF_ERROR(w.set_string("clip.vision.projector_type", "gemma4v"));
  SPECULA_RETURN_IF_ERROR(w.set_f32("clip.vision.attention.layer_norm_epsilon", h.eps));
  return w.set_u32("general.quantization_version", 2);
}

std::vector<MmprojTensor> mmproj_tensors(const MmprojHparams& h) {
  std::vector<MmprojTensor> out;
  Adder add{out};
  const int64_t d = h.hidden, p = h.patch_size;
  add("mm.input_projection.weight", "model.embed_vision.embedding_projection.weight", {h.text_hidden, d},
      TensorKind::kMatrix, -1);
  for (int i = 0; i < h.n_layers; ++i) add_layer(add, h, i);
  add(kPatchEmbdName, std::string(kTower) + "patch_embedder.input_proj.weight", {d, p * p * 3}, TensorKind::kMatrix, -1);
  // The conv kernel of llama.cpp: ne [p, p, 3, D] (PyTorch [D, 3, p, p]), not the HF shape reversed.
  out.back().spec.dims = {p, p, 3, d};
  add(kPositionEmbdName, std::string(kTower) + "patch_embedder.position_embedding_table", {2, h.n_positions, d},
      TensorKind::kEmbedding, -1);
  if (h.standardize) {
    add("v.std_bias", std::string(kTower) + "std_bias", {d}, TensorKind::kNorm, -1);
    add("v.std_scale", std::string(kTower) + "std_scale", {d}, TensorKind::kNorm, -1);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const MmprojTensor& a, const MmprojTensor& b) { return a.spec.hf_name < b.spec.hf_name; });
  return out;
}

Result<std::string> describe_mmproj(const std::string& path) {
  SPECULA_TRY(const auto model, VisionModel::load(path));
  const VisionConfig& c = model->config();
  return fmt::format("gemma4v, D {}, {} layers, {} heads x {}, MLP {}, patch {}, {} positions, projects to {}; {}, {}; "
                     "pooling {}x{} and RoPE theta {} assumed (no key in the format)",
                     c.hidden, c.n_layers, c.n_heads, c.head_dim, c.intermediate, c.patch_size, c.n_positions,
                     c.text_hidden, c.clipped ? "clippable linears (clamps)" : "no clamps",
                     c.standardize ? "standardized (std_bias/std_scale)" : "not standardized", c.pooling_kernel,
                     c.pooling_kernel, c.rope_theta);
}

bool mmproj_file_type_supported(quant::FileType t) {
  return t == quant::FileType::kAllF32 || t == quant::FileType::kMostlyF16 || t == quant::FileType::kMostlyBF16 ||
         t == quant::FileType::kMostlyQ8_0;
}

format::GgmlType mmproj_tensor_type(quant::FileType file_type, const TensorSpec& spec) {
  using format::GgmlType;
  const GgmlType base = quant::file_type_base(file_type);
  if (spec.name == kPatchEmbdName) return file_type == quant::FileType::kMostlyF16 ? GgmlType::kF16 : GgmlType::kF32;
  if (spec.name == kPositionEmbdName || converter_keeps_f32(spec.name, spec.dims.size())) return GgmlType::kF32;
  const int64_t block = static_cast<int64_t>(format::ggml_traits(base).block_size);
  if (block > 1 && spec.dims[0] % block != 0) return GgmlType::kF16;  // gguf-py's QuantError fallback
  return base;
}

}  // namespace specula::model
