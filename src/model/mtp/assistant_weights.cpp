#include "model/mtp/assistant_weights.h"

#include <cstring>
#include <set>
#include <string>

#include "model/common/tensor_binder.h"

namespace specula::model {
namespace {

std::string blk(int i, const char* name) { return "blk." + std::to_string(i) + "." + name; }

constexpr const char* kLayerTensors[] = {"attn_norm.weight", "attn_q.weight", "attn_q_norm.weight", "attn_output.weight",
                                         "post_attention_norm.weight", "ffn_norm.weight", "ffn_gate.weight",
                                         "ffn_up.weight", "ffn_down.weight", "post_ffw_norm.weight",
                                         "layer_output_scale.weight"};

// Every tensor of the file must be one the assistant uses (the binder cannot bind the integer ordering
// tensor, so the extra-tensor check is done here).
Status check_no_extra(const format::GgufFile& f, int n_layers) {
  std::set<std::string> known = {"token_embd.weight", "output_norm.weight", "rope_freqs.weight",
                                 "nextn.pre_projection.weight", "nextn.post_projection.weight", kCentroidsTensor,
                                 kOrderingTensor};
  for (int i = 0; i < n_layers; ++i) {
    for (const char* name : kLayerTensors) known.insert(blk(i, name));
  }
  std::string extra;
  int n_extra = 0;
  for (const auto& t : f.tensors()) {
    if (known.count(t.name) != 0) continue;
    if (n_extra++ < 8) extra += (extra.empty() ? "" : ", ") + t.name;
  }
  if (n_extra == 0) return ok_status();
  return make_error(ErrorCode::kCorruptData, "{}: unexpected tensors in an assistant file ({} in all): {}", f.path(),
                    n_extra, extra);
}

AssistantLayerWeights bind_layer(TensorBinder& b, const AssistantConfig& c, int i) {
  const AssistantLayerSpec& l = c.layers[static_cast<size_t>(i)];
  const int64_t h = c.hidden;
  const int64_t qw = static_cast<int64_t>(c.n_heads) * l.head_dim;
  AssistantLayerWeights w;
  w.attn_norm = b.vector(blk(i, "attn_norm.weight"), h);
  w.wq = b.matrix(blk(i, "attn_q.weight"), h, qw);
  w.q_norm = b.vector(blk(i, "attn_q_norm.weight"), l.head_dim);
  w.wo = b.matrix(blk(i, "attn_output.weight"), qw, h);
  w.post_attn_norm = b.vector(blk(i, "post_attention_norm.weight"), h);
  w.ffn_norm = b.vector(blk(i, "ffn_norm.weight"), h);
  w.ffn_gate = b.matrix(blk(i, "ffn_gate.weight"), h, l.ffn_dim);
  w.ffn_up = b.matrix(blk(i, "ffn_up.weight"), h, l.ffn_dim);
  w.ffn_down = b.matrix(blk(i, "ffn_down.weight"), l.ffn_dim, h);
  w.post_ffn_norm = b.vector(blk(i, "post_ffw_norm.weight"), h);
  const std::vector<float> scale = b.vector(blk(i, "layer_output_scale.weight"), 1, false);
  if (!scale.empty()) w.output_scale = scale[0];
  return w;
}

// masked_embd_ordering: I32 or I64 token ids, a permutation of [0, vocab).
Status read_ordering(const format::GgufFile& f, int64_t vocab, std::vector<int32_t>& out) {
  const format::GgufTensorInfo* t = f.find_tensor(kOrderingTensor);
  if (t->dims.size() != 1 || t->dims[0] != vocab) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' has shape {}, expected [{}]", f.path(), kOrderingTensor,
                      t->shape_string(), vocab);
  }
  if (t->type != format::GgmlType::kI32 && t->type != format::GgmlType::kI64) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' must be i32 or i64, not {}", f.path(), kOrderingTensor,
                      format::ggml_type_name(t->type));
  }
  const auto data = f.tensor_data(*t);
  out.resize(static_cast<size_t>(vocab));
  std::vector<bool> seen(static_cast<size_t>(vocab), false);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t v = 0;
    if (t->type == format::GgmlType::kI32) {
      int32_t x;
      std::memcpy(&x, data.data() + 4 * i, 4);
      v = x;
    } else {
      std::memcpy(&v, data.data() + 8 * i, 8);
    }
    if (v < 0 || v >= vocab || seen[static_cast<size_t>(v)]) {
      return make_error(ErrorCode::kCorruptData, "{}: '{}' is not a permutation of the {} token ids (entry {} = {})",
                        f.path(), kOrderingTensor, vocab, i, v);
    }
    seen[static_cast<size_t>(v)] = true;
    out[i] = static_cast<int32_t>(v);
  }
  return ok_status();
}

Status bind_centroids(const format::GgufFile& f, TensorBinder& b, const AssistantConfig& c, int64_t vocab,
                      AssistantWeights& w) {
  const bool has_c = b.has(kCentroidsTensor);
  const bool has_o = b.has(kOrderingTensor);
  if (!has_c && !has_o) return ok_status();
  if (has_c != has_o) {
    return make_error(ErrorCode::kCorruptData, "{}: the centroid head needs both '{}' and '{}'; only '{}' is present",
                      f.path(), kCentroidsTensor, kOrderingTensor, has_c ? kCentroidsTensor : kOrderingTensor);
  }
  const format::GgufTensorInfo* t = f.find_tensor(kCentroidsTensor);
  const int64_t n_centroids = t->dims.size() == 2 ? t->dims[1] : 0;
  if (n_centroids < 1 || vocab % n_centroids != 0 || c.centroid_top_k > n_centroids) {
    return make_error(ErrorCode::kCorruptData, "{}: '{}' has shape {}: the vocabulary ({}) must split into its centroid "
                      "count, which must be at least top-k {}", f.path(), kCentroidsTensor, t->shape_string(), vocab,
                      c.centroid_top_k);
  }
  w.centroid_head.centroids = b.matrix(kCentroidsTensor, c.hidden, n_centroids);
  w.has_centroids = true;
  return read_ordering(f, vocab, w.centroid_head.ordering);
}

}  // namespace

Result<AssistantWeights> bind_assistant_weights(const format::GgufFile& f, AssistantConfig& c) {
  const format::GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr || embd->dims.size() != 2 || embd->dims[1] < 1 || embd->dims[1] > (int64_t{1} << 24)) {
    return make_error(ErrorCode::kCorruptData, "{}: 'token_embd.weight' is missing or not a [hidden, vocab] matrix", f.path());
  }
  const int64_t vocab = embd->dims[1];
  c.vocab = static_cast<int>(vocab);
  TensorBinder b(f);
  AssistantWeights w;
  w.token_embd = b.matrix("token_embd.weight", c.hidden, vocab);
  w.token_embd.int8_only = true;  // the drafter's LM head (kernels/matrix_view.h)
  w.output_norm = b.vector("output_norm.weight", c.hidden);
  int half_full = 0;
  for (const auto& l : c.layers) {
    if (!l.sliding) half_full = l.head_dim / 2;
  }
  if (half_full > 0) w.rope_freqs = b.vector("rope_freqs.weight", half_full, false);
  w.pre_projection = b.matrix("nextn.pre_projection.weight", 2 * static_cast<int64_t>(c.backbone), c.hidden);
  w.post_projection = b.matrix("nextn.post_projection.weight", c.hidden, c.backbone);
  for (int i = 0; i < c.n_layers; ++i) w.layers.push_back(bind_layer(b, c, i));
  if (Status st = bind_centroids(f, b, c, vocab, w); !st.ok()) return st.error();
  SPECULA_RETURN_IF_ERROR(b.finish(/*allow_extra=*/true));
  SPECULA_RETURN_IF_ERROR(check_no_extra(f, c.n_layers));
  return w;
}

}  // namespace specula::model
