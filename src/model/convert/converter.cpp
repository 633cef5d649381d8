#include "model/convert/converter.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "base/half.h"
#include "base/mapped_file.h"
#include "format/safetensors.h"
#include "model/convert/assistant_convert.h"
#include "model/convert/gguf_metadata.h"
#include "model/convert/gguf_stream_writer.h"
#include "model/convert/hf_config.h"
#include "model/convert/hf_tokenizer.h"
#include "model/convert/row_encoder.h"
#include "model/convert/tensor_table.h"
#include "model/convert/type_plan.h"

namespace specula::model {
namespace {

using format::SafetensorsDtype;
using format::SafetensorsTensor;

// One output tensor: its spec (GGUF name, ggml dims) and its HF source (nullptr for rope_freqs).
struct Item {
  TensorSpec spec;
  const SafetensorsTensor* source = nullptr;
};

std::string shape_of(const std::vector<int64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ", ")); }

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

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Pairs every expected tensor with its HF tensor, checking names, shapes and dtypes; lists all problems.
Result<std::vector<Item>> match_tensors(const HfModelConfig& cfg, const format::SafetensorsModel& st,
                                        ConvertSummary& summary) {
  const std::vector<TensorSpec> specs = gemma4_tensor_specs(cfg.hparams);
  std::map<std::string, size_t> by_hf;  // full HF name -> spec index
  for (size_t i = 1; i < specs.size(); ++i) {
    const bool top = specs[i].hf_name == "lm_head.weight";
    by_hf.emplace(top ? specs[i].hf_name : cfg.tensor_prefix + specs[i].hf_name, i);
  }
  std::vector<std::string> problems;
  std::vector<Item> items{{specs[0], nullptr}};  // rope_freqs, generated, first as in llama.cpp
  std::vector<bool> seen(specs.size(), false);
  for (const SafetensorsTensor* t : hf_order(st)) {
    if (std::any_of(cfg.ignored_prefixes.begin(), cfg.ignored_prefixes.end(),
                    [&](const std::string& p) { return starts_with(t->name, p); }) ||
        (t->name == "lm_head.weight" && cfg.hparams.tied_embeddings)) {
      ++summary.n_skipped;
      continue;
    }
    const auto it = by_hf.find(t->name);
    if (it == by_hf.end()) {
      problems.push_back(fmt::format("unexpected tensor '{}' {}", t->name, t->shape_string()));
      continue;
    }
    const TensorSpec& s = specs[it->second];
    std::vector<int64_t> want(s.dims.rbegin(), s.dims.rend());
    if (t->shape != want) {
      problems.push_back(
          fmt::format("tensor '{}' has shape {}, the config implies {}", t->name, t->shape_string(), shape_of(want)));
    }
    if (t->dtype != SafetensorsDtype::kF32 && t->dtype != SafetensorsDtype::kF16 &&
        t->dtype != SafetensorsDtype::kBF16) {
      problems.push_back(fmt::format("tensor '{}' has dtype {} (F32, F16 or BF16 expected)", t->name,
                                     format::safetensors_dtype_name(t->dtype)));
    }
    seen[it->second] = true;
    items.push_back({s, t});
  }
  for (const auto& [name, i] : by_hf) {
    if (!seen[i])
      problems.push_back(
          fmt::format("missing tensor '{}' {}", name, shape_of({specs[i].dims.rbegin(), specs[i].dims.rend()})));
  }
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 40);
    std::string list =
        fmt::format("{}", fmt::join(problems.begin(), problems.begin() + static_cast<ptrdiff_t>(shown), "; "));
    if (shown < problems.size()) list += fmt::format("; ... and {} more", problems.size() - shown);
    return make_error(ErrorCode::kInvalidArgument, "{}: the tensors do not match config.json ({} problem{}): {}",
                      cfg.architecture, problems.size(), problems.size() == 1 ? "" : "s", list);
  }
  return items;
}

// Row `row` (of `cols` values) of a safetensors tensor as float32. The bytes are not aligned.
void read_row(const SafetensorsTensor& t, int64_t row, int64_t cols, float* out) {
  const size_t n = static_cast<size_t>(cols);
  const size_t esize = format::safetensors_dtype_size(t.dtype);
  const uint8_t* p = t.bytes.data() + static_cast<size_t>(row) * n * esize;
  if (t.dtype == SafetensorsDtype::kF32) {
    std::memcpy(out, p, n * 4);
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = t.dtype == SafetensorsDtype::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
  }
}

// Applies the tokenizer: llama.cpp keeps only the token_embd rows the tokenizer can address.
Status apply_tokenizer(const HfTokenizer& tok, std::vector<Item>& items, int vocab) {
  int64_t rows = vocab;
  if (tok.embedding_rows_kept < static_cast<size_t>(vocab)) {
    rows = static_cast<int64_t>(tok.embedding_rows_kept);
    for (auto& item : items) {
      if (item.spec.name == "token_embd.weight") item.spec.dims[1] = rows;
    }
  }
  if (tok.vocab.tokens.size() != static_cast<size_t>(rows)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tokenizer.json has {} tokens but token_embd keeps {} rows "
                      "(vocab_size {}); llama.cpp could not load such a file",
                      tok.vocab.tokens.size(), rows, vocab);
  }
  return ok_status();
}

std::string default_name(const std::string& dir) {
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

Status write_tensors(const std::vector<Item>& items, const TypePlan& plan, const Gemma4Hparams& h, GgufStreamWriter& w,
                     ThreadPool& pool, const ConvertOptions& options, ConvertSummary& summary) {
  for (size_t k = 0; k < plan.order.size(); ++k) {
    const Item& item = items[plan.order[k]];
    const format::GgmlType type = plan.types[plan.order[k]];
    if (options.on_tensor) options.on_tensor(k, plan.order.size(), item.spec.name, type);
    const int64_t cols = item.spec.dims[0];
    const int64_t rows = item.spec.n_elements() / cols;
    RowSource source;
    if (item.source == nullptr) {  // rope_freqs: [1]*n_rot_pairs + [1e30]*rest, as llama.cpp generates it
      const int n_rot = h.n_rot_pairs_full();
      source = [n_rot, cols](int64_t, float* out) {
        for (int64_t i = 0; i < cols; ++i) out[i] = i < n_rot ? 1.0f : 1e30f;
      };
    } else {
      const SafetensorsTensor* t = item.source;
      source = [t, cols](int64_t row, float* out) { read_row(*t, row, cols, out); };
    }
    SPECULA_RETURN_IF_ERROR(encode_rows(w, pool, type, cols, rows, source));
    summary.n_bytes += format::ggml_row_bytes(type, static_cast<size_t>(cols)) * static_cast<uint64_t>(rows);
  }
  summary.n_tensors = plan.order.size();
  return ok_status();
}

}  // namespace

Result<ConvertSummary> convert_hf_model(const ConvertOptions& options, ThreadPool& pool) {
  const std::string config_path = options.hf_dir + "/config.json";
  SPECULA_TRY(const std::string config_text, read_file(config_path));
  if (is_assistant_config(config_text)) return convert_hf_assistant(options, config_text, pool);  // MTP drafters
  SPECULA_TRY(const HfModelConfig cfg, parse_hf_config(config_text, config_path));
  SPECULA_TRY(const format::SafetensorsModel st, format::SafetensorsModel::open(options.hf_dir));
  ConvertSummary summary;
  SPECULA_TRY(std::vector<Item> items, match_tensors(cfg, st, summary));
  SPECULA_TRY(const std::optional<HfTokenizer> tok, read_hf_tokenizer(options.hf_dir, config_text));
  if (tok) {
    SPECULA_RETURN_IF_ERROR(apply_tokenizer(*tok, items, cfg.hparams.vocab));
  } else {
    summary.notes.push_back("no tokenizer.json: the file has no tokenizer (llama.cpp's converter would refuse)");
  }

  std::vector<NamedShape> shapes;
  for (const auto& item : items) shapes.push_back({item.spec.name, item.spec.dims});
  const TypePlan plan =
      plan_tensor_types(options.file_type, shapes, cfg.hparams.n_layers, cfg.hparams.moe ? cfg.hparams.n_experts : 0);
  format::GgufWriter meta;
  const std::string name = options.model_name.empty() ? default_name(options.hf_dir) : options.model_name;
  SPECULA_RETURN_IF_ERROR(add_gemma4_metadata(cfg.hparams, name, options.file_type, meta));
  if (tok) {
    SPECULA_RETURN_IF_ERROR(add_tokenizer_metadata(tok->vocab, meta));
    summary.tokenizer = true;
    summary.chat_template = !tok->vocab.chat_template.empty();
  }
  std::vector<StreamTensorInfo> infos;
  for (const size_t i : plan.order) infos.push_back({items[i].spec.name, plan.types[i], items[i].spec.dims});
  SPECULA_TRY(auto writer, GgufStreamWriter::create(options.out_path, meta, std::move(infos)));
  SPECULA_RETURN_IF_ERROR(write_tensors(items, plan, cfg.hparams, *writer, pool, options, summary));
  SPECULA_RETURN_IF_ERROR(writer->finish());
  return summary;
}

}  // namespace specula::model
