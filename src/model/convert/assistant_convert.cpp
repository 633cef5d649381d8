#include "model/convert/assistant_convert.h"

#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/half.h"
#include "format/safetensors.h"
#include "model/convert/gguf_stream_writer.h"
#include "model/convert/row_encoder.h"
#include "model/convert/type_plan.h"

namespace specula::model {
namespace {

using nlohmann::json;
using format::SafetensorsDtype;
using format::SafetensorsTensor;

// Reads typed fields, collecting every problem.
struct Fields {
  std::vector<std::string> problems;
  int integer(const json& j, const char* name, bool required = true, int fallback = 0) {
    const auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
      if (required) problems.push_back(fmt::format("'{}' is missing", name));
      return fallback;
    }
    if (!it->is_number_integer()) {
      problems.push_back(fmt::format("'{}' must be an integer", name));
      return fallback;
    }
    return it->get<int>();
  }
  double real(const json& j, const char* name, double fallback) {
    const auto it = j.find(name);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number()) {
      problems.push_back(fmt::format("'{}' must be a number", name));
      return fallback;
    }
    return it->get<double>();
  }
};

void read_layers(const json& t, Fields& f, AssistantHparams& h) {
  const auto types = t.find("layer_types");
  if (types == t.end() || !types->is_array()) {
    f.problems.push_back("'layer_types' is missing");
    return;
  }
  for (const auto& v : *types) {
    const std::string s = v.is_string() ? v.get<std::string>() : "";
    if (s != "sliding_attention" && s != "full_attention") f.problems.push_back("layer_types holds '" + v.dump() + "'");
    h.sliding.push_back(s == "sliding_attention");
  }
  const json rope = t.value("rope_parameters", json::object());
  const json rs = rope.value("sliding_attention", json::object());
  const json rf = rope.value("full_attention", json::object());
  h.rope_theta_swa = f.real(rs, "rope_theta", 10000.0);
  h.rope_theta_full = f.real(rf, "rope_theta", 1000000.0);
  h.partial_rotary_full = f.real(rf, "partial_rotary_factor", 1.0);
}

}  // namespace

bool is_assistant_config(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  if (j.value("model_type", "") == "gemma4_assistant") return true;
  const auto a = j.find("architectures");
  return a != j.end() && a->is_array() && !a->empty() && a->front() == "Gemma4AssistantForCausalLM";
}

Result<AssistantHparams> parse_assistant_config(const std::string& text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kCorruptData, "{}: not a JSON object", where);
  const json t = j.value("text_config", json::object());
  Fields f;
  AssistantHparams h;
  h.backbone = f.integer(j, "backbone_hidden_size");
  if (j.value("use_ordered_embeddings", false)) {
    h.n_centroids = f.integer(j, "num_centroids", false, 2048);
    h.centroid_top_k = f.integer(j, "centroid_intermediate_top_k", false, 32);
  }
  h.vocab = f.integer(t, "vocab_size");
  h.hidden = f.integer(t, "hidden_size");
  h.n_layers = f.integer(t, "num_hidden_layers");
  h.n_heads = f.integer(t, "num_attention_heads");
  h.n_kv_heads = f.integer(t, "num_key_value_heads");
  h.head_dim = f.integer(t, "head_dim");
  h.head_dim_full = f.integer(t, "global_head_dim", false, h.head_dim);
  if (t.value("attention_k_eq_v", false)) h.n_kv_heads_full = f.integer(t, "num_global_key_value_heads", false, 0);
  h.ffn = f.integer(t, "intermediate_size");
  h.context_length = f.integer(t, "max_position_embeddings", false, 131072);
  h.sliding_window = f.integer(t, "sliding_window", false, 0);
  h.rms_eps = static_cast<float>(f.real(t, "rms_norm_eps", 1e-6));
  read_layers(t, f, h);
  if (f.integer(t, "hidden_size_per_layer_input", false, 0) != 0 || t.value("enable_moe_block", false) ||
      t.value("use_double_wide_mlp", false)) {
    return make_error(ErrorCode::kUnsupported, "{}: assistants with per-layer inputs, MoE or a double-wide MLP are not "
                      "supported", where);
  }
  if (!f.problems.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: {} problem{}: {}", where, f.problems.size(),
                      f.problems.size() == 1 ? "" : "s", fmt::join(f.problems, "; "));
  }
  SPECULA_RETURN_IF_ERROR(validate_assistant_hparams(h, where));
  return h;
}

namespace {

struct Item {
  TensorSpec spec;
  const SafetensorsTensor* source = nullptr;  // nullptr: rope_freqs (generated)
};

Result<std::vector<Item>> match(const AssistantHparams& h, const format::SafetensorsModel& st, ConvertSummary& summary) {
  std::vector<Item> items;
  std::vector<std::string> problems;
  std::map<std::string, bool> expected;
  for (const TensorSpec& s : assistant_tensor_specs(h)) {
    if (s.hf_name.empty()) {
      items.push_back({s, nullptr});
      continue;
    }
    expected[s.hf_name] = true;
    const SafetensorsTensor* t = st.find(s.hf_name);
    const std::vector<int64_t> want(s.dims.rbegin(), s.dims.rend());
    if (t == nullptr) {
      problems.push_back(fmt::format("missing tensor '{}' [{}]", s.hf_name, fmt::join(want, ", ")));
      continue;
    }
    const bool ids = s.name == kOrderingTensorName;
    const bool dtype_ok = ids ? (t->dtype == SafetensorsDtype::kI64 || t->dtype == SafetensorsDtype::kI32)
                              : (t->dtype == SafetensorsDtype::kF32 || t->dtype == SafetensorsDtype::kF16 ||
                                 t->dtype == SafetensorsDtype::kBF16);
    if (t->shape != want) problems.push_back(fmt::format("tensor '{}' has shape {}, the config implies [{}]", t->name,
                                                         t->shape_string(), fmt::join(want, ", ")));
    if (!dtype_ok) problems.push_back(fmt::format("tensor '{}' has dtype {}", t->name, format::safetensors_dtype_name(t->dtype)));
    items.push_back({s, t});
  }
  for (const std::string& name : st.tensor_names()) {
    if (expected.count(name)) continue;
    if (name == "lm_head.weight") {  // tied to model.embed_tokens
      ++summary.n_skipped;
      continue;
    }
    problems.push_back(fmt::format("unexpected tensor '{}'", name));
  }
  if (!problems.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "the tensors do not match config.json ({} problem{}): {}",
                      problems.size(), problems.size() == 1 ? "" : "s", fmt::join(problems, "; "));
  }
  return items;
}

void read_row(const SafetensorsTensor& t, int64_t row, int64_t cols, float* out) {
  const size_t n = static_cast<size_t>(cols);
  const uint8_t* p = t.bytes.data() + static_cast<size_t>(row) * n * format::safetensors_dtype_size(t.dtype);
  if (t.dtype == SafetensorsDtype::kF32) {
    std::memcpy(out, p, n * 4);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t x;
    std::memcpy(&x, p + 2 * i, 2);
    out[i] = t.dtype == SafetensorsDtype::kF16 ? fp16_to_fp32(x) : bf16_to_fp32(x);
  }
}

Status write_item(const Item& item, format::GgmlType type, const AssistantHparams& h, const format::SafetensorsModel& st,
                  GgufStreamWriter& w, ThreadPool& pool) {
  const int64_t cols = item.spec.dims[0];
  const int64_t rows = item.spec.n_elements() / cols;
  if (item.spec.name == kOrderingTensorName) {
    SPECULA_TRY(const std::vector<int64_t> ids, st.read_i64(item.source->name));
    std::vector<int32_t> out;
    for (const int64_t v : ids) {
      if (v < 0 || v >= h.vocab) return make_error(ErrorCode::kInvalidArgument, "token_ordering holds the id {}", v);
      out.push_back(static_cast<int32_t>(v));
    }
    return write_encoded_rows(w, pool, out.size() * 4, 1, [&](int64_t, uint8_t* dst) {
      std::memcpy(dst, out.data(), out.size() * 4);
    });
  }
  RowSource source;
  if (item.source == nullptr) {  // rope_freqs: [1]*n_rot_pairs + [1e30]*rest
    const int n_rot = h.n_rot_pairs_full();
    source = [n_rot, cols](int64_t, float* out) {
      for (int64_t i = 0; i < cols; ++i) out[i] = i < n_rot ? 1.0f : 1e30f;
    };
  } else {
    const SafetensorsTensor* t = item.source;
    source = [t, cols](int64_t row, float* out) { read_row(*t, row, cols, out); };
  }
  return encode_rows(w, pool, type, cols, rows, source);
}

std::string folder_name(const std::string& dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Result<ConvertSummary> convert_hf_assistant(const ConvertOptions& options, const std::string& config_text,
                                            ThreadPool& pool) {
  SPECULA_TRY(const AssistantHparams h, parse_assistant_config(config_text, options.hf_dir + "/config.json"));
  SPECULA_TRY(const format::SafetensorsModel st, format::SafetensorsModel::open(options.hf_dir));
  ConvertSummary summary;
  SPECULA_TRY(const std::vector<Item> items, match(h, st, summary));
  std::vector<NamedShape> shapes;
  for (const auto& item : items) shapes.push_back({item.spec.name, item.spec.dims});
  TypePlan plan = plan_tensor_types(options.file_type, shapes, h.n_layers, 0);
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].spec.name == kOrderingTensorName) plan.types[i] = format::GgmlType::kI32;
  }
  format::GgufWriter meta;
  const std::string name = options.model_name.empty() ? folder_name(options.hf_dir) : options.model_name;
  SPECULA_RETURN_IF_ERROR(add_assistant_metadata(h, name, options.file_type, meta));
  std::vector<StreamTensorInfo> infos;
  for (const size_t i : plan.order) infos.push_back({items[i].spec.name, plan.types[i], items[i].spec.dims});
  SPECULA_TRY(auto writer, GgufStreamWriter::create(options.out_path, meta, std::move(infos)));
  for (size_t k = 0; k < plan.order.size(); ++k) {
    const size_t i = plan.order[k];
    if (options.on_tensor) options.on_tensor(k, plan.order.size(), items[i].spec.name, plan.types[i]);
    SPECULA_RETURN_IF_ERROR(write_item(items[i], plan.types[i], h, st, *writer, pool));
    summary.n_bytes += format::ggml_row_bytes(plan.types[i], static_cast<size_t>(items[i].spec.dims[0])) *
                       static_cast<uint64_t>(items[i].spec.n_elements() / items[i].spec.dims[0]);
  }
  SPECULA_RETURN_IF_ERROR(writer->finish());
  summary.n_tensors = plan.order.size();
  if (h.n_centroids > 0) summary.notes.push_back("kept the centroid head (masked_embd_centroids, masked_embd_ordering)");
  summary.notes.push_back("assistant: no tokenizer is written (the drafter uses the target's)");
  return summary;
}

}  // namespace specula::model
