#include "model/convert/mmproj_convert.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/half.h"
#include "base/mapped_file.h"
#include "format/safetensors.h"
#include "model/convert/gguf_stream_writer.h"
#include "model/convert/row_encoder.h"

namespace specula::model {
namespace {

using nlohmann::json;
using format::SafetensorsDtype;
using format::SafetensorsTensor;

// Reads typed fields of one JSON object, collecting every problem.
struct Fields {
  std::vector<std::string> problems;
  int integer(const json& j, const char* scope, const char* name, bool required, int fallback) {
    const auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
      if (required) problems.push_back(fmt::format("'{}{}' is missing", scope, name));
      return fallback;
    }
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > (int64_t{1} << 30)) {
      problems.push_back(fmt::format("'{}{}' must be a non-negative integer, got {}", scope, name, it->dump()));
      return fallback;
    }
    return it->get<int>();
  }
  bool boolean(const json& j, const char* scope, const char* name) {
    const auto it = j.find(name);
    if (it == j.end() || it->is_null()) return false;
    if (!it->is_boolean()) {
      problems.push_back(fmt::format("'{}{}' must be true or false, got {}", scope, name, it->dump()));
      return false;
    }
    return it->get<bool>();
  }
};

// The epsilon to write: layer_norm_eps, else rms_norm_eps, else 1e-6 (see the header).
float vision_eps(const json& v) {
  for (const char* key : {"layer_norm_eps", "rms_norm_eps"}) {
    const auto it = v.find(key);
    if (it != v.end() && it->is_number()) return static_cast<float>(it->get<double>());
  }
  return 1e-6f;
}

void note_unrepresentable(const json& v, std::vector<std::string>& notes) {
  const auto pool = v.find("pooling_kernel_size");
  if (pool != v.end() && pool->is_number_integer() && pool->get<int>() != 3) {
    notes.push_back(fmt::format("vision_config.pooling_kernel_size is {}: mmproj files have no key for it and "
                                "loaders assume 3", pool->get<int>()));
  }
  const json rope = v.value("rope_parameters", json::object());
  const auto theta = rope.find("rope_theta");
  if (theta != rope.end() && theta->is_number() && theta->get<double>() != 100.0) {
    notes.push_back(fmt::format("vision rope_theta is {}: mmproj files have no key for it and loaders assume 100",
                                theta->get<double>()));
  }
}

}  // namespace

Result<MmprojHparams> parse_mmproj_config(const std::string& text, const std::string& where,
                                          std::vector<std::string>& notes) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(ErrorCode::kCorruptData, "{}: not a JSON object", where);
  const auto vit = j.find("vision_config");
  if (vit == j.end() || !vit->is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: no vision_config: this model has no vision tower, so there "
                      "is no mmproj to write", where);
  }
  const json& v = *vit;
  json text_cfg = j;  // llama.cpp: {**config, **config["text_config"]}
  if (const auto t = j.find("text_config"); t != j.end() && t->is_object()) {
    for (const auto& [k, val] : t->items()) text_cfg[k] = val;
  }
  Fields f;
  MmprojHparams h;
  h.text_hidden = f.integer(text_cfg, "text_config.", "hidden_size", true, 0);
  h.hidden = f.integer(v, "vision_config.", "hidden_size", true, 0);
  h.intermediate = f.integer(v, "vision_config.", "intermediate_size", true, 0);
  h.n_layers = f.integer(v, "vision_config.", "num_hidden_layers", true, 0);
  h.n_heads = f.integer(v, "vision_config.", "num_attention_heads", true, 0);
  h.patch_size = f.integer(v, "vision_config.", "patch_size", false, 16);
  h.n_positions = f.integer(v, "vision_config.", "position_embedding_size", false, 10240);
  h.clipped = f.boolean(v, "vision_config.", "use_clipped_linears");
  h.standardize = f.boolean(v, "vision_config.", "standardize");
  h.eps = vision_eps(v);
  const int head_dim = f.integer(v, "vision_config.", "head_dim", false, 0);
  const int kv_heads = f.integer(v, "vision_config.", "num_key_value_heads", false, 0);
  if (!f.problems.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "{}: {} problem{}: {}", where, f.problems.size(),
                      f.problems.size() == 1 ? "" : "s", fmt::join(f.problems, "; "));
  }
  if (head_dim != 0 && h.n_heads > 0 && head_dim * h.n_heads != h.hidden) {
    return make_error(ErrorCode::kUnsupported, "{}: vision head_dim {} x {} heads != hidden_size {} (an mmproj file "
                      "implies head_dim = hidden_size / heads)", where, head_dim, h.n_heads, h.hidden);
  }
  if (kv_heads != 0 && kv_heads != h.n_heads) {
    return make_error(ErrorCode::kUnsupported, "{}: vision num_key_value_heads {} != num_attention_heads {}", where,
                      kv_heads, h.n_heads);
  }
  SPECULA_RETURN_IF_ERROR(validate_mmproj_hparams(h, where));
  note_unrepresentable(v, notes);
  return h;
}

namespace {

// image_mean / image_std as llama.cpp reads them: preprocessor_config.json, then processor_config.json (its
// image_processor section lifted to the top) overriding it.
Status read_processor_config(const std::string& dir, MmprojHparams& h, std::vector<std::string>& notes) {
  json merged = json::object();
  for (const char* file : {"preprocessor_config.json", "processor_config.json"}) {
    const std::string path = dir + "/" + file;
    if (!std::filesystem::is_regular_file(path)) continue;
    SPECULA_TRY(const std::string text, read_file(path));
    json cfg = json::parse(text, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) return make_error(ErrorCode::kCorruptData, "{}: not a JSON object", path);
    if (const auto ip = cfg.find("image_processor"); ip != cfg.end() && ip->is_object()) cfg.update(*ip);
    merged.update(cfg);
  }
  bool found = false;
  for (const auto& [key, out] : {std::pair{"image_mean", &h.image_mean}, std::pair{"image_std", &h.image_std}}) {
    const auto it = merged.find(key);
    if (it == merged.end()) continue;
    if (!it->is_array() || it->size() != 3 || !std::all_of(it->begin(), it->end(), [](const json& x) { return x.is_number(); })) {
      return make_error(ErrorCode::kInvalidArgument, "{}: {} must be 3 numbers, got {}", dir, key, it->dump());
    }
    for (size_t c = 0; c < 3; ++c) (*out)[c] = static_cast<float>((*it)[c].get<double>());
    found = true;
  }
  if (!found) notes.push_back("no image_mean/image_std in (pre)processor_config.json: wrote Gemma 4's 0 and 1");
  return ok_status();
}

struct Item {
  TensorSpec spec;
  std::vector<int64_t> hf_shape;
  const SafetensorsTensor* source = nullptr;
};

bool contains(const std::string& s, const char* p) { return s.find(p) != std::string::npos; }

// HF tensors in the order llama.cpp's converter meets them: shard by shard, names sorted within a shard.
std::vector<const SafetensorsTensor*> hf_order(const format::SafetensorsModel& st) {
  std::vector<const SafetensorsTensor*> out;
  for (const auto& shard : st.shards()) {
    std::vector<const SafetensorsTensor*> names;
    for (const auto& t : shard.tensors()) names.push_back(&t);
    std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return a->name < b->name; });
    out.insert(out.end(), names.begin(), names.end());
  }
  return out;
}

// The expected tensors by HF name, with aliases: a plain-Linear weight `<module>.weight` for
// `<module>.linear.weight`, and the optional clamp scalars of embed_vision (llama.cpp maps them to
// mm.input_projection.*; specula's loader ignores them, as transformers does).
std::map<std::string, MmprojTensor> expected_by_hf(const MmprojHparams& h) {
  std::map<std::string, MmprojTensor> by;
  for (MmprojTensor& t : mmproj_tensors(h)) {
    std::string name = t.spec.hf_name;
    constexpr std::string_view kLinear = ".linear.weight";
    if (name.size() > kLinear.size() && name.compare(name.size() - kLinear.size(), kLinear.size(), kLinear) == 0) {
      by.emplace(name.substr(0, name.size() - kLinear.size()) + ".weight", t);
    }
    by.emplace(std::move(name), std::move(t));
  }
  for (const char* s : {"input_max", "input_min", "output_max", "output_min"}) {
    MmprojTensor t{{std::string("mm.input_projection.") + s, "", {1}, TensorKind::kNorm, -1}, {}};
    t.spec.hf_name = std::string("model.embed_vision.embedding_projection.") + s;
    by.emplace(t.spec.hf_name, t);
  }
  return by;
}

bool shape_ok(const SafetensorsTensor& t, const std::vector<int64_t>& want) {
  if (want.empty()) return t.shape.empty() || t.shape == std::vector<int64_t>{1};
  return t.shape == want;
}

Result<std::vector<Item>> match(const MmprojHparams& h, const format::SafetensorsModel& st, ConvertSummary& summary) {
  std::map<std::string, MmprojTensor> by = expected_by_hf(h);
  std::vector<Item> items;
  std::vector<std::string> problems;
  std::map<std::string, bool> seen;  // GGUF name -> present
  size_t audio = 0;
  for (const SafetensorsTensor* t : hf_order(st)) {
    if (contains(t->name, "language_model.") || t->name == "lm_head.weight") {
      ++summary.n_skipped;
      continue;
    }
    if (contains(t->name, "audio_tower") || contains(t->name, "embed_audio")) {
      ++summary.n_skipped, ++audio;
      continue;
    }
    const auto it = by.find(t->name);
    if (it == by.end()) {
      problems.push_back(fmt::format("unexpected tensor '{}' {}", t->name, t->shape_string()));
      continue;
    }
    const MmprojTensor& m = it->second;
    if (!shape_ok(*t, m.hf_shape)) {
      problems.push_back(fmt::format("tensor '{}' has shape {}, vision_config implies [{}]", t->name, t->shape_string(),
                                     fmt::join(m.hf_shape, ", ")));
    }
    if (t->dtype != SafetensorsDtype::kF32 && t->dtype != SafetensorsDtype::kF16 && t->dtype != SafetensorsDtype::kBF16) {
      problems.push_back(fmt::format("tensor '{}' has dtype {} (F32, F16 or BF16 expected)", t->name,
                                     format::safetensors_dtype_name(t->dtype)));
    }
    if (seen[m.spec.name]) problems.push_back(fmt::format("tensor '{}' appears twice", m.spec.name));
    seen[m.spec.name] = true;
    items.push_back({m.spec, m.hf_shape, t});
  }
  for (const MmprojTensor& m : mmproj_tensors(h)) {
    if (!seen[m.spec.name]) {
      problems.push_back(fmt::format("missing tensor '{}' [{}]", m.spec.hf_name, fmt::join(m.hf_shape, ", ")));
    }
  }
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 40);
    std::string list = fmt::format("{}", fmt::join(problems.begin(), problems.begin() + static_cast<ptrdiff_t>(shown), "; "));
    if (shown < problems.size()) list += fmt::format("; ... and {} more", problems.size() - shown);
    return make_error(ErrorCode::kInvalidArgument,
                      "the vision tensors do not match vision_config (use_clipped_linears {}, standardize {}; {} "
                      "problem{}): {}", h.clipped, h.standardize, problems.size(), problems.size() == 1 ? "" : "s", list);
  }
  if (audio > 0) {
    summary.notes.push_back(fmt::format("left out the audio tower ({} tensors): the mmproj holds vision only", audio));
  }
  return items;
}

// Values [first, first + n) of a safetensors tensor as float32 (the bytes are not aligned).
void read_values(const SafetensorsTensor& t, int64_t first, int64_t n, float* out) {
  const size_t esize = format::safetensors_dtype_size(t.dtype);
  const uint8_t* p = t.bytes.data() + static_cast<size_t>(first) * esize;
  if (t.dtype == SafetensorsDtype::kF32) {
    std::memcpy(out, p, static_cast<size_t>(n) * 4);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    uint16_t x;
    std::memcpy(&x, p + 2 * i, 2);
    out[i] = t.dtype == SafetensorsDtype::kF16 ? fp16_to_fp32(x) : bf16_to_fp32(x);
  }
}

// The rows of one output tensor. The patch kernel is HF [D, p*p*3] in (py, px, c) order, written as the conv
// kernel [D, 3, p, p]: output row (d, c, py) holds HF values (d, py, px, c) for px = 0..p-1.
RowSource row_source(const Item& item) {
  const SafetensorsTensor* t = item.source;
  const int64_t cols = item.spec.dims[0];
  if (item.spec.name != kPatchEmbdName) {
    return [t, cols](int64_t row, float* out) { read_values(*t, row * cols, cols, out); };
  }
  const int64_t p = cols, patch_dim = p * p * 3;
  return [t, p, patch_dim](int64_t row, float* out) {
    const int64_t d = row / (3 * p), c = (row / p) % 3, py = row % p;
    std::vector<float> src(static_cast<size_t>(patch_dim));
    read_values(*t, d * patch_dim, patch_dim, src.data());
    for (int64_t px = 0; px < p; ++px) out[px] = src[static_cast<size_t>((py * p + px) * 3 + c)];
  };
}

std::string folder_name(const std::string& dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Result<ConvertSummary> convert_hf_mmproj(const ConvertOptions& options, ThreadPool& pool) {
  if (!mmproj_file_type_supported(options.file_type)) {
    return make_error(ErrorCode::kInvalidArgument, "an mmproj file can be written as f32, f16, bf16 or q8_0, not {}",
                      quant::file_type_name(options.file_type));
  }
  const std::string config_path = options.hf_dir + "/config.json";
  SPECULA_TRY(const std::string config_text, read_file(config_path));
  ConvertSummary summary;
  SPECULA_TRY(MmprojHparams h, parse_mmproj_config(config_text, config_path, summary.notes));
  SPECULA_RETURN_IF_ERROR(read_processor_config(options.hf_dir, h, summary.notes));
  SPECULA_TRY(const format::SafetensorsModel st, format::SafetensorsModel::open(options.hf_dir));
  SPECULA_TRY(const std::vector<Item> items, match(h, st, summary));

  uint64_t n_params = 0;
  std::vector<StreamTensorInfo> infos;
  std::vector<format::GgmlType> types;
  for (const Item& item : items) {
    n_params += static_cast<uint64_t>(item.spec.n_elements());
    types.push_back(mmproj_tensor_type(options.file_type, item.spec));
    infos.push_back({item.spec.name, types.back(), item.spec.dims});
  }
  format::GgufWriter meta;
  const std::string name = options.model_name.empty() ? folder_name(options.hf_dir) : options.model_name;
  SPECULA_RETURN_IF_ERROR(add_mmproj_metadata(h, name, mmproj_size_label(n_params), options.file_type, meta));
  SPECULA_TRY(auto writer, GgufStreamWriter::create(options.out_path, meta, std::move(infos)));
  for (size_t i = 0; i < items.size(); ++i) {
    const TensorSpec& s = items[i].spec;
    if (options.on_tensor) options.on_tensor(i, items.size(), s.name, types[i]);
    const int64_t cols = s.dims[0], rows = s.n_elements() / cols;
    SPECULA_RETURN_IF_ERROR(encode_rows(*writer, pool, types[i], cols, rows, row_source(items[i])));
    summary.n_bytes += format::ggml_row_bytes(types[i], static_cast<size_t>(cols)) * static_cast<uint64_t>(rows);
  }
  SPECULA_RETURN_IF_ERROR(writer->finish());
  summary.n_tensors = items.size();
  return summary;
}

}  // namespace specula::model
