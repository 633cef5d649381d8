// specula info FILE: what a GGUF file (or a safetensors file / HF model folder) holds: architecture,
// hyperparameters, metadata, tensor types and sizes, and a tokenizer summary with the special tokens.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "config/flags.h"
#include "format/gguf_reader.h"
#include "format/safetensors.h"
#include "model/convert/mmproj_gguf.h"
#include "subcommand.h"

namespace specula::tools {
namespace {

using format::GgufFile;
using format::printable;

constexpr size_t kDefaultTensorLines = 32;
constexpr size_t kSpecialTokenLines = 64;  // longer special-token lists are abbreviated

// GGUF token types (llama.cpp's llama_token_type).
const char* token_type_name(int64_t t) {
  static const char* kNames[] = {"undefined", "normal", "unknown", "control", "user_defined", "unused", "byte"};
  return t >= 0 && t <= 6 ? kNames[t] : "invalid";
}

std::string mib(uint64_t bytes) { return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1 << 20)); }

std::string token_text(const format::GgufArray* tokens, int64_t id) {
  if (tokens == nullptr || id < 0 || static_cast<size_t>(id) >= tokens->items.size()) return "(no such token)";
  const std::string* s = tokens->items[static_cast<size_t>(id)].as_string();
  return s ? fmt::format("\"{}\"", printable(*s, 60)) : "(not a string)";
}

void print_metadata(const GgufFile& f) {
  std::printf("metadata:\n");
  for (const auto& [key, value] : f.metadata()) {
    if (key.rfind("tokenizer.ggml.", 0) == 0 && value.is_array()) continue;  // summarized under tokenizer
    std::printf("  %-48s %s\n", printable(key).c_str(), value.to_display().c_str());
  }
}

void print_token_ids(const GgufFile& f, const format::GgufArray* tokens) {
  static const std::pair<const char*, const char*> kIds[] = {
      {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
      {"pad", "tokenizer.ggml.padding_token_id"}, {"unk", "tokenizer.ggml.unknown_token_id"},
      {"mask", "tokenizer.ggml.mask_token_id"},   {"eot", "tokenizer.ggml.eot_token_id"}};
  for (const auto& [label, key] : kIds) {
    if (auto id = f.get_int(key); id.ok()) {
      std::printf("  %s id: %lld %s\n", label, static_cast<long long>(id.value()), token_text(tokens, id.value()).c_str());
    }
  }
}

// Control, user-defined and unknown tokens: the ones a chat template or parser cares about.
void print_special_tokens(const format::GgufArray* tokens, const format::GgufArray* types) {
  std::vector<std::pair<size_t, int64_t>> special;
  for (size_t i = 0; i < types->items.size(); ++i) {
    const int64_t t = types->items[i].as_int().value_or(-1);
    if (t == 2 || t == 3 || t == 4) special.emplace_back(i, t);
  }
  std::printf("  special tokens: %zu\n", special.size());
  const size_t shown = special.size() > kSpecialTokenLines ? kSpecialTokenLines - 16 : special.size();
  for (size_t i = 0; i < shown; ++i) {
    std::printf("    %8zu %-12s %s\n", special[i].first, token_type_name(special[i].second),
                token_text(tokens, static_cast<int64_t>(special[i].first)).c_str());
  }
  if (shown < special.size()) std::printf("    ... %zu more\n", special.size() - shown);
}

void print_tokenizer(const GgufFile& f) {
  const auto model = f.get_string("tokenizer.ggml.model");
  if (!model.ok()) {
    std::printf("tokenizer: none\n");
    return;
  }
  const auto tokens_r = f.get_array("tokenizer.ggml.tokens");
  const format::GgufArray* tokens = tokens_r.ok() ? tokens_r.value() : nullptr;
  std::printf("tokenizer:\n  model: %s\n", printable(model.value()).c_str());
  std::printf("  vocab size: %zu\n", tokens ? tokens->items.size() : size_t{0});
  const auto types = f.get_array("tokenizer.ggml.token_type");
  if (types.ok()) {
    std::map<int64_t, size_t> counts;
    for (const auto& v : types.value()->items) counts[v.as_int().value_or(-1)]++;
    std::string line;
    for (const auto& [t, n] : counts) line += fmt::format("{}{} {}", line.empty() ? "" : ", ", token_type_name(t), n);
    std::printf("  token types: %s\n", line.c_str());
  }
  if (auto merges = f.get_array("tokenizer.ggml.merges"); merges.ok()) {
    std::printf("  merges: %zu\n", merges.value()->items.size());
  }
  if (auto tmpl = f.get_string("tokenizer.chat_template"); tmpl.ok()) {
    std::printf("  chat template: %zu bytes\n", tmpl.value().size());
  }
  print_token_ids(f, tokens);
  if (types.ok()) print_special_tokens(tokens, types.value());
}

void print_tensors(const GgufFile& f, bool all) {
  std::map<std::string, std::pair<size_t, uint64_t>> by_type;
  uint64_t total = 0;
  uint64_t params = 0;
  for (const auto& t : f.tensors()) {
    auto& e = by_type[std::string(format::ggml_type_name(t.type))];
    e.first++;
    e.second += t.n_bytes;
    total += t.n_bytes;
    params += t.n_elements;
  }
  std::printf("tensors: %zu, %llu bytes (%s), %llu parameters\n", f.tensors().size(),
              static_cast<unsigned long long>(total), mib(total).c_str(), static_cast<unsigned long long>(params));
  for (const auto& [name, e] : by_type) {
    std::printf("  %s: %zu tensors, %llu bytes (%s)\n", name.c_str(), e.first, static_cast<unsigned long long>(e.second),
                mib(e.second).c_str());
  }
  size_t shown = 0;
  for (const auto& t : f.tensors()) {
    if (!all && shown == kDefaultTensorLines) {
      std::printf("  ... %zu more (--tensors lists all)\n", f.tensors().size() - shown);
      break;
    }
    std::printf("  %-40s %-8s %-24s %llu bytes\n", printable(t.name).c_str(),
                std::string(format::ggml_type_name(t.type)).c_str(), t.shape_string().c_str(),
                static_cast<unsigned long long>(t.n_bytes));
    ++shown;
  }
}

int info_gguf(const std::string& path, bool all) {
  auto file = GgufFile::open(path);
  if (!file.ok()) return fail("info", file.error().message());
  const GgufFile& f = file.value();
  const std::string arch = f.architecture();
  std::printf("file: %s\n", path.c_str());
  std::printf("format: GGUF v%u, alignment %llu, %llu bytes, %zu metadata keys, %zu tensors\n", f.version(),
              static_cast<unsigned long long>(f.alignment()), static_cast<unsigned long long>(f.file_size()),
              f.metadata().size(), f.tensors().size());
  std::printf("architecture: %s\n", arch.empty() ? "(none)" : printable(arch).c_str());
  if (auto name = f.get_string("general.name"); name.ok()) std::printf("name: %s\n", printable(name.value()).c_str());
  if (auto blocks = f.get_uint(arch + ".block_count"); blocks.ok()) {
    std::printf("block count: %llu\n", static_cast<unsigned long long>(blocks.value()));
  }
  if (arch == "clip") {  // an mmproj: the vision tower as specula loads it
    auto vision = model::describe_mmproj(path);
    std::printf("vision: %s\n", vision.ok() ? vision->c_str() : ("not loadable: " + vision.error().message()).c_str());
  }
  print_metadata(f);
  print_tokenizer(f);
  print_tensors(f, all);
  return 0;
}

int info_safetensors(const std::string& path, bool all) {
  auto model = format::SafetensorsModel::open(path);
  if (!model.ok()) return fail("info", model.error().message());
  const auto& m = model.value();
  std::printf("file: %s\nformat: safetensors, %zu shard%s, %zu tensors\n", path.c_str(), m.shards().size(),
              m.shards().size() == 1 ? "" : "s", m.n_tensors());
  std::printf("metadata:\n");
  for (const auto& [k, v] : m.metadata()) std::printf("  %-48s \"%s\"\n", printable(k).c_str(), printable(v).c_str());
  std::map<std::string, std::pair<size_t, uint64_t>> by_dtype;
  uint64_t total = 0;
  uint64_t params = 0;
  const auto names = m.tensor_names();
  for (const auto& name : names) {
    const auto* t = m.find(name);
    auto& e = by_dtype[format::safetensors_dtype_name(t->dtype)];
    e.first++;
    e.second += t->bytes.size();
    total += t->bytes.size();
    params += t->n_elements;
  }
  std::printf("tensors: %zu, %llu bytes (%s), %llu parameters\n", names.size(), static_cast<unsigned long long>(total),
              mib(total).c_str(), static_cast<unsigned long long>(params));
  for (const auto& [dtype, e] : by_dtype) {
    std::printf("  %s: %zu tensors, %llu bytes (%s)\n", dtype.c_str(), e.first, static_cast<unsigned long long>(e.second),
                mib(e.second).c_str());
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (!all && i == kDefaultTensorLines) {
      std::printf("  ... %zu more (--tensors lists all)\n", names.size() - i);
      break;
    }
    const auto* t = m.find(names[i]);
    std::printf("  %-56s %-5s %-20s %zu bytes\n", printable(names[i]).c_str(), format::safetensors_dtype_name(t->dtype),
                t->shape_string().c_str(), t->bytes.size());
  }
  return 0;
}

bool is_safetensors(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return true;
  const auto ext = std::filesystem::path(path).extension();
  return ext == ".safetensors" || ext == ".json";
}

}  // namespace

int cmd_info(const Args& args) {
  config::FlagParser parser("info", "FILE.gguf | FILE.safetensors | HF_MODEL_DIR");
  parser.allow_positionals(1, "FILE");
  parser.add({{"--tensors"}, config::FlagKind::kSwitch, "list every tensor (default: the first 32)", ""});
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("info", flags.error().message());
  if (flags->positionals().empty()) return fail("info", "missing FILE (usage: specula info FILE.gguf)");
  const std::string& path = flags->positionals()[0];
  const bool all = flags->has("--tensors");
  return is_safetensors(path) ? info_safetensors(path, all) : info_gguf(path, all);
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(info, 90, "print a GGUF or safetensors model's architecture, metadata, tensors and tokenizer",
                   specula::tools::cmd_info);
