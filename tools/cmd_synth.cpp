// specula synth --preset NAME --type TYPE -o FILE: a GGUF with random weights and a preset's real shapes.
#include <cstdio>
#include <map>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "config/flags.h"
#include "format/gguf_writer.h"
#include "model/convert/type_plan.h"
#include "model/synth/mmproj_presets.h"
#include "model/synth/synth.h"
#include "subcommand.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser synth_parser() {
  config::FlagParser p("synth", "--preset NAME [--type TYPE] -o OUT.gguf [--seed N] [--vocab FILE.gguf]");
  p.add({{"--preset"},
         config::FlagKind::kValue,
         "model shape: e2b, e4b, 26b-a4b, 31b (released Gemma 4 text models), tiny (E-style, a few MB, with a "
         "small tokenizer and chat template), tiny-moe (MoE + attention_k_eq_v, small); vision projectors (mmproj) "
         "for them: e2b-mmproj, e4b-mmproj, 26b-a4b-mmproj, 31b-mmproj, tiny-mmproj (types f32, f16, bf16, q8_0)",
         "",
         "NAME"});
  p.add({{"--type"},
         config::FlagKind::kValue,
         std::string("tensor type mix: ") + quant::file_type_names(),
         "f16",
         "TYPE"});
  p.add({{"-o", "--outfile"}, config::FlagKind::kValue, "output GGUF file (required)", "", "FILE"});
  p.add({{"--seed"}, config::FlagKind::kValue, "random seed (the file depends only on it, not on -t)", "0"});
  p.add({{"--vocab"},
         config::FlagKind::kValue,
         "copy the tokenizer.* keys of this GGUF (its vocabulary size must equal the preset's)",
         "",
         "FILE"});
  p.add({{"--dry-run"}, config::FlagKind::kSwitch, "write only the metadata (no tensors) and print the plan", ""});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  p.add({{"-q", "--quiet"}, config::FlagKind::kSwitch, "print only the summary", ""});
  return p;
}

}  // namespace

int cmd_synth(const Args& args) {
  const config::FlagParser parser = synth_parser();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("synth", flags.error().message());
  const auto preset = flags->get("--preset");
  if (!preset) return fail("synth", "missing --preset NAME (e2b, e4b, 26b-a4b, 31b, tiny, tiny-moe, or NAME-mmproj)");
  const auto out = flags->get("--outfile");
  if (!out) return fail("synth", "missing -o OUT.gguf");
  auto file_type = quant::parse_file_type(flags->get("--type").value_or("f16"));
  if (!file_type.ok()) return fail("synth", file_type.error().message());
  auto seed = flags->get_int("--seed", 0, INT64_MAX);
  if (!seed.ok()) return fail("synth", seed.error().message());
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("synth", threads.error().message());

  model::SynthOptions options;
  options.preset = *preset;
  options.file_type = file_type.value();
  options.seed = static_cast<uint64_t>(seed->value_or(0));
  options.vocab_path = flags->get("--vocab").value_or("");
  const bool mmproj = model::is_mmproj_preset(options.preset);
  auto plan = mmproj ? model::plan_mmproj_synth(options) : model::plan_synth(options);
  if (!plan.ok()) return fail("synth", plan.error().message());
  std::printf("%s: %s, %llu parameters, %zu tensors, %.2f MiB of tensor data\n", plan->preset.name.c_str(),
              std::string(quant::file_type_name(options.file_type)).c_str(),
              static_cast<unsigned long long>(plan->n_params), plan->tensors.size(),
              static_cast<double>(plan->data_bytes) / (1 << 20));
  std::map<std::string, std::pair<size_t, uint64_t>> by_type;  // type -> (tensors, parameters)
  for (size_t i = 0; i < plan->tensors.size(); ++i) {
    auto& e = by_type[std::string(format::ggml_type_name(plan->types[i]))];
    e.first++;
    e.second += static_cast<uint64_t>(plan->tensors[i].n_elements());
  }
  for (const auto& [type, e] : by_type) {
    std::printf("  %-6s %5zu tensors %14llu parameters\n", type.c_str(), e.first,
                static_cast<unsigned long long>(e.second));
  }
  if (flags->has("--dry-run")) {
    if (Status st = plan->metadata.write(*out); !st.ok()) return fail("synth", st.error().message());
    std::printf("wrote the metadata only to %s\n", out->c_str());
    return 0;
  }
  if (!flags->has("--quiet")) {
    options.on_tensor = [](size_t i, size_t n, const std::string& name, format::GgmlType type) {
      std::fprintf(stderr, "[%4zu/%4zu] %-40s %s\n", i + 1, n, name.c_str(),
                   std::string(format::ggml_type_name(type)).c_str());
    };
  }
  ThreadPool pool(threads.value());
  Timer timer;
  Status st = mmproj ? model::synth_mmproj(options, *out, pool) : model::synth_model(options, *out, pool);
  if (!st.ok()) return fail("synth", st.error().message());
  std::printf("wrote %s in %.1f s\n", out->c_str(), timer.elapsed_s());
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(synth, 55, "write a GGUF with random weights and a Gemma 4 model's real shapes (benchmarks, tests)",
                   specula::tools::cmd_synth);
