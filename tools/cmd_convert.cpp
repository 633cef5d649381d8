// specula convert HF_DIR -o out.gguf [--type TYPE] [--mmproj]: HF Gemma 4 safetensors -> llama.cpp-compatible GGUF
// (the text model, or with --mmproj the vision tower + projector as a separate mmproj file).
#include <cstdio>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "config/flags.h"
#include "model/convert/converter.h"
#include "model/convert/mmproj_convert.h"
#include "model/convert/type_plan.h"
#include "subcommand.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser convert_parser() {
  config::FlagParser p("convert", "HF_DIR -o OUT.gguf [--type TYPE] [--mmproj]");
  p.allow_positionals(1, "HF_DIR");
  p.add({{"-o", "--outfile"}, config::FlagKind::kValue, "output GGUF file (required)", "", "FILE"});
  p.add({{"--type"},
         config::FlagKind::kValue,
         std::string("tensor type mix: ") + quant::file_type_names() +
             " (float types as llama.cpp's converter; quantized mixes as llama-quantize applied to its f16 output)",
         "f16",
         "TYPE"});
  p.add({{"--mmproj"},
         config::FlagKind::kSwitch,
         "write the vision tower and projector as an mmproj GGUF (llama.cpp's --mmproj; types f32, f16, bf16, q8_0)",
         ""});
  p.add({{"--name"}, config::FlagKind::kValue, "general.name to write", "the folder's name", "NAME"});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  p.add({{"-q", "--quiet"}, config::FlagKind::kSwitch, "print only the summary", ""});
  return p;
}

}  // namespace

int cmd_convert(const Args& args) {
  const config::FlagParser parser = convert_parser();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("convert", flags.error().message());
  if (flags->positionals().empty())
    return fail("convert", "missing HF_DIR (usage: specula convert HF_DIR -o OUT.gguf)");
  const auto out = flags->get("--outfile");
  if (!out) return fail("convert", "missing -o OUT.gguf");
  auto file_type = quant::parse_file_type(flags->get("--type").value_or("f16"));
  if (!file_type.ok()) return fail("convert", file_type.error().message());
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("convert", threads.error().message());

  model::ConvertOptions options;
  options.hf_dir = flags->positionals()[0];
  options.out_path = *out;
  options.file_type = file_type.value();
  options.model_name = flags->get("--name").value_or("");
  if (!flags->has("--quiet")) {
    options.on_tensor = [](size_t i, size_t n, const std::string& name, format::GgmlType type) {
      std::fprintf(stderr, "[%4zu/%4zu] %-40s %s\n", i + 1, n, name.c_str(),
                   std::string(format::ggml_type_name(type)).c_str());
    };
  }
  ThreadPool pool(threads.value());
  Timer timer;
  const bool mmproj = flags->has("--mmproj");
  auto summary = mmproj ? model::convert_hf_mmproj(options, pool) : model::convert_hf_model(options, pool);
  if (!summary.ok()) return fail("convert", summary.error().message());
  for (const auto& note : summary->notes) std::fprintf(stderr, "specula convert: note: %s\n", note.c_str());
  if (mmproj) {
    std::printf("wrote %s: mmproj, %s, %zu tensors, %.2f MiB of tensor data, %zu HF tensors left out, %.1f s\n",
                options.out_path.c_str(), std::string(quant::file_type_name(options.file_type)).c_str(),
                summary->n_tensors, static_cast<double>(summary->n_bytes) / (1 << 20), summary->n_skipped,
                timer.elapsed_s());
    return 0;
  }
  std::printf("wrote %s: %s, %zu tensors, %.2f MiB of tensor data, tokenizer %s%s, %zu HF tensors left out, %.1f s\n",
              options.out_path.c_str(), std::string(quant::file_type_name(options.file_type)).c_str(),
              summary->n_tensors, static_cast<double>(summary->n_bytes) / (1 << 20), summary->tokenizer ? "yes" : "no",
              summary->chat_template ? " (with chat template)" : "", summary->n_skipped, timer.elapsed_s());
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(convert, 50, "convert an HF Gemma 4 checkpoint (safetensors) to a llama.cpp-compatible GGUF",
                   specula::tools::cmd_convert);
