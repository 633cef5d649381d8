// Loading the vision tower from an mmproj GGUF: hparams from clip.vision.* keys, tensors by llama.cpp's names.
#include <cstring>

#include "base/half.h"
#include "model/common/tensor_binder.h"
#include "model/vision/vision_model.h"

namespace specula::model {
namespace {

constexpr int64_t kMaxDim = 1 << 16;  // far above any released tower; rejects absurd header values

Result<int64_t> dim_key(const format::GgufFile& f, const std::string& key) {
  auto v = f.get_uint(key);
  if (!v.ok()) return make_error(ErrorCode::kCorruptData, "{}: mmproj key '{}': {}", f.path(), key, v.error().message());
  if (v.value() == 0 || v.value() > static_cast<uint64_t>(kMaxDim)) {
    return make_error(ErrorCode::kCorruptData, "{}: mmproj key '{}' = {} is out of range", f.path(), key, v.value());
  }
  return static_cast<int64_t>(v.value());
}

Result<std::string> projector_type(const format::GgufFile& f) {
  for (const char* key : {"clip.vision.projector_type", "clip.projector_type"}) {
    if (f.find(key) != nullptr) return f.get_string(key);
  }
  return make_error(ErrorCode::kCorruptData, "{}: no clip.vision.projector_type key (not an mmproj file?)", f.path());
}

Result<VisionConfig> read_config(const format::GgufFile& f) {
  if (f.architecture() != "clip") {
    return make_error(ErrorCode::kUnsupported, "{}: general.architecture is '{}', expected 'clip' (an mmproj file)",
                      f.path(), f.architecture());
  }
  SPECULA_TRY(const std::string type, projector_type(f));
  if (type != "gemma4v") {
    return make_error(ErrorCode::kUnsupported, "{}: projector type '{}' is not supported (only 'gemma4v', Gemma 4 vision)",
                      f.path(), type);
  }
  VisionConfig c;
  SPECULA_TRY(c.hidden, dim_key(f, "clip.vision.embedding_length"));
  SPECULA_TRY(c.intermediate, dim_key(f, "clip.vision.feed_forward_length"));
  SPECULA_TRY(c.n_layers, dim_key(f, "clip.vision.block_count"));
  SPECULA_TRY(c.n_heads, dim_key(f, "clip.vision.attention.head_count"));
  SPECULA_TRY(c.patch_size, dim_key(f, "clip.vision.patch_size"));
  SPECULA_TRY(c.text_hidden, dim_key(f, "clip.vision.projection_dim"));
  if (auto eps = f.get_float("clip.vision.attention.layer_norm_epsilon"); eps.ok()) c.eps = static_cast<float>(eps.value());
  if (!(c.eps > 0.0f && c.eps < 1.0f)) return make_error(ErrorCode::kCorruptData, "{}: bad layer_norm_epsilon", f.path());
  if (c.hidden % c.n_heads != 0 || (c.hidden / c.n_heads) % 4 != 0) {
    return make_error(ErrorCode::kCorruptData, "{}: embedding_length {} / head_count {} is not a head size divisible by 4",
                      f.path(), c.hidden, c.n_heads);
  }
  c.head_dim = c.hidden / c.n_heads;
  if (c.patch_size > 64 || c.n_layers > 256) {
    return make_error(ErrorCode::kCorruptData, "{}: patch_size {} or block_count {} is out of range", f.path(),
                      c.patch_size, c.n_layers);
  }
  return c;
}

// The conv kernel v.patch_embd.weight (ggml ne [p, p, 3, D], i.e. [D][c][py][px]) as a [D, p*p*3] float32
// matrix whose columns are in the pixel vector's (py, px, c) order.
Result<std::vector<float>> patch_matrix(const format::GgufFile& f, const VisionConfig& c) {
  const std::string name = "v.patch_embd.weight";
  const format::GgufTensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return make_error(ErrorCode::kCorruptData, "{}: missing tensor '{}'", f.path(), name);
  const int64_t p = c.patch_size;
  if (t->dims != std::vector<int64_t>{p, p, 3, c.hidden}) {
    return make_error(ErrorCode::kCorruptData, "{}: tensor '{}' has shape {}, expected [{}, {}, 3, {}]", f.path(), name,
                      t->shape_string(), p, p, c.hidden);
  }
  const auto bytes = f.tensor_data(*t);
  const auto at = [&](size_t i) -> float {
    uint16_t h = 0;
    float x = 0;
    switch (t->type) {
      case format::GgmlType::kF32: std::memcpy(&x, bytes.data() + 4 * i, 4); return x;
      case format::GgmlType::kF16: std::memcpy(&h, bytes.data() + 2 * i, 2); return fp16_to_fp32(h);
      default: std::memcpy(&h, bytes.data() + 2 * i, 2); return bf16_to_fp32(h);
    }
  };
  if (t->type != format::GgmlType::kF32 && t->type != format::GgmlType::kF16 && t->type != format::GgmlType::kBF16) {
    return make_error(ErrorCode::kUnsupported, "{}: tensor '{}' must be F32, F16 or BF16", f.path(), name);
  }
  const int64_t pd = c.patch_dim();
  std::vector<float> w(static_cast<size_t>(c.hidden * pd));
  for (int64_t d = 0; d < c.hidden; ++d) {
    for (int64_t ch = 0; ch < 3; ++ch) {
      for (int64_t py = 0; py < p; ++py) {
        for (int64_t px = 0; px < p; ++px) {
          const auto src = static_cast<size_t>(((d * 3 + ch) * p + py) * p + px);
          w[static_cast<size_t>(d * pd + (py * p + px) * 3 + ch)] = at(src);
        }
      }
    }
  }
  return w;
}

// Binds one ClippableLinear: the weight and, when the file has clamps, all four bounds.
ClipLinear clip_linear(TensorBinder& b, const std::string& base, int64_t cols, int64_t rows, bool clipped) {
  ClipLinear l;
  l.w = b.matrix(base + ".weight", cols, rows);
  if (!clipped) return l;
  const auto scalar = [&](const char* suffix, float& out) {
    const auto v = b.vector(base + "." + suffix, 1);
    if (!v.empty()) out = v[0];
  };
  scalar("input_min", l.in_min);
  scalar("input_max", l.in_max);
  scalar("output_min", l.out_min);
  scalar("output_max", l.out_max);
  return l;
}

}  // namespace

Result<std::unique_ptr<VisionModel>> VisionModel::load(const std::string& path) {
  SPECULA_TRY(auto file, format::GgufFile::open(path));
  return from_file(std::move(file));
}

Result<std::unique_ptr<VisionModel>> VisionModel::from_file(format::GgufFile file) {
  std::unique_ptr<VisionModel> m(new VisionModel(std::move(file)));
  SPECULA_TRY(m->config_, read_config(m->file_));
  SPECULA_RETURN_IF_ERROR(m->bind());
  return m;
}

Status VisionModel::bind() {
  VisionConfig& c = config_;
  const format::GgufFile& f = file_;
  SPECULA_TRY(patch_w_, patch_matrix(f, c));
  patch_view_ = kernels::MatrixView{format::GgmlType::kF32, reinterpret_cast<const uint8_t*>(patch_w_.data()), c.hidden,
                                    c.patch_dim(), static_cast<size_t>(c.patch_dim()) * sizeof(float)};
  const format::GgufTensorInfo* pos = f.find_tensor("v.position_embd.weight");
  if (pos == nullptr || pos->dims.size() != 3) {
    return make_error(ErrorCode::kCorruptData, "{}: missing or non-3-D tensor 'v.position_embd.weight'", f.path());
  }
  c.n_positions = pos->dims[1];
  c.clipped = f.find_tensor("v.blk.0.attn_q.input_min") != nullptr;
  c.standardize = f.find_tensor("v.std_bias") != nullptr || f.find_tensor("v.std_scale") != nullptr;
  TensorBinder b(f);
  const MatrixStack table = b.stack("v.position_embd.weight", c.hidden, c.n_positions, 2);
  pos_x_ = table.count == 2 ? table.at(0) : kernels::MatrixView{};
  pos_y_ = table.count == 2 ? table.at(1) : kernels::MatrixView{};
  const int64_t d = c.hidden, hd = c.head_dim, ff = c.intermediate;
  layers_.resize(static_cast<size_t>(c.n_layers));
  for (int64_t i = 0; i < c.n_layers; ++i) {
    VisionLayer& l = layers_[static_cast<size_t>(i)];
    const std::string p = "v.blk." + std::to_string(i) + ".";
    l.ln1 = b.vector(p + "ln1.weight", d);
    l.ln2 = b.vector(p + "ln2.weight", d);
    l.attn_post_norm = b.vector(p + "attn_post_norm.weight", d);
    l.ffn_post_norm = b.vector(p + "ffn_post_norm.weight", d);
    l.q_norm = b.vector(p + "attn_q_norm.weight", hd);
    l.k_norm = b.vector(p + "attn_k_norm.weight", hd);
    l.q = clip_linear(b, p + "attn_q", d, d, c.clipped);
    l.k = clip_linear(b, p + "attn_k", d, d, c.clipped);
    l.v = clip_linear(b, p + "attn_v", d, d, c.clipped);
    l.o = clip_linear(b, p + "attn_out", d, d, c.clipped);
    l.gate = clip_linear(b, p + "ffn_gate", d, ff, c.clipped);
    l.up = clip_linear(b, p + "ffn_up", d, ff, c.clipped);
    l.down = clip_linear(b, p + "ffn_down", ff, d, c.clipped);
  }
  if (c.standardize) {
    std_bias_ = b.vector("v.std_bias", d);
    std_scale_ = b.vector("v.std_scale", d);
  }
  proj_ = b.matrix("mm.input_projection.weight", d, c.text_hidden);
  // Tensors of other towers (audio "a.*") may share the file; they are not ours to check.
  SPECULA_RETURN_IF_ERROR(b.finish(/*allow_extra=*/true));
  return ok_status();
}

}  // namespace specula::model
