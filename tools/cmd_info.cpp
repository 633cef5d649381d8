// specula info FILE: architecture, key metadata, tensors and tokenizer summary of a GGUF file.
#include <cstdio>
#include <map>

#include "config/flags.h"
#include "format/gguf_reader.h"
#include "subcommand.h"

namespace specula::tools {
namespace {

void print_tokenizer_summary(const format::GgufFile& f) {
  const auto* model = f.find("tokenizer.ggml.model");
  if (model == nullptr) {
    std::printf("tokenizer: none\n");
    return;
  }
  const auto tokens = f.get_array("tokenizer.ggml.tokens");
  const size_t n_vocab = tokens.ok() ? tokens.value()->items.size() : 0;
  std::printf("tokenizer: model %s, vocab %zu", model->to_display().c_str(), n_vocab);
  if (auto types = f.get_array("tokenizer.ggml.token_type"); types.ok()) {
    std::map<int64_t, size_t> counts;
    for (const auto& v : types.value()->items) counts[v.as_int().value_or(-1)]++;
    static const char* kNames[] = {"?", "normal", "unknown", "control", "user_defined", "unused", "byte"};
    std::printf(", types:");
    for (const auto& [t, n] : counts) std::printf(" %s=%zu", (t >= 0 && t <= 6) ? kNames[t] : "?", n);
  }
  if (auto merges = f.get_array("tokenizer.ggml.merges"); merges.ok()) {
    std::printf(", merges %zu", merges.value()->items.size());
  }
  std::printf("\n");
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.padding_token_id", "tokenizer.ggml.unknown_token_id"}) {
    if (auto id = f.get_int(key); id.ok()) {
      const int64_t i = id.value();
      const std::string* text = (tokens.ok() && i >= 0 && static_cast<size_t>(i) < n_vocab)
                                    ? tokens.value()->items[static_cast<size_t>(i)].as_string()
                                    : nullptr;
      std::printf("  %s = %lld%s%s\n", key, static_cast<long long>(i), text ? " " : "", text ? text->c_str() : "");
    }
  }
}

}  // namespace

int cmd_info(const Args& args) {
  config::FlagParser parser("info", "FILE.gguf");
  parser.allow_positionals(1, "FILE");
  parser.add({{"--tensors"}, config::FlagKind::kSwitch, "list every tensor (default: the first 32)", ""});
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("info", flags.error().message());
  if (flags->positionals().empty()) return fail("info", "missing FILE (usage: specula info FILE.gguf)");
  auto file = format::GgufFile::open(flags->positionals()[0]);
  if (!file.ok()) return fail("info", file.error().message());
  const auto& f = file.value();
  const std::string arch = f.architecture();
  std::printf("file: %s\nformat: GGUF v%u, alignment %llu, %zu metadata keys, %zu tensors\n", f.path().c_str(),
              f.version(), static_cast<unsigned long long>(f.alignment()), f.metadata().size(), f.tensors().size());
  std::printf("architecture: %s\n", arch.empty() ? "(none)" : arch.c_str());
  std::printf("metadata:\n");
  for (const auto& [key, value] : f.metadata()) {
    if (key.rfind("tokenizer.ggml.", 0) == 0 && value.is_array()) continue;  // summarized below
    std::printf("  %-48s %s\n", key.c_str(), value.to_display().c_str());
  }
  print_tokenizer_summary(f);
  std::map<std::string, std::pair<size_t, uint64_t>> by_type;
  uint64_t total = 0;
  for (const auto& t : f.tensors()) {
    auto& e = by_type[std::string(format::ggml_type_name(t.type))];
    e.first++;
    e.second += t.n_bytes;
    total += t.n_bytes;
  }
  std::printf("tensors: %zu, %.2f MiB\n", f.tensors().size(), static_cast<double>(total) / (1 << 20));
  for (const auto& [name, e] : by_type) {
    std::printf("  %-8s %6zu tensors %12.2f MiB\n", name.c_str(), e.first, static_cast<double>(e.second) / (1 << 20));
  }
  const bool all = flags->has("--tensors");
  size_t shown = 0;
  for (const auto& t : f.tensors()) {
    if (!all && shown == 32) {
      std::printf("  ... %zu more (--tensors lists all)\n", f.tensors().size() - shown);
      break;
    }
    std::printf("  %-40s %-8s %-24s %llu bytes\n", t.name.c_str(), std::string(format::ggml_type_name(t.type)).c_str(),
                t.shape_string().c_str(), static_cast<unsigned long long>(t.n_bytes));
    ++shown;
  }
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(info, 90, "print a GGUF file's architecture, metadata, tensors and tokenizer", specula::tools::cmd_info);
