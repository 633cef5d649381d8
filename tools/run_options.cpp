#include "run_options.h"

#include <cstdio>
#include <iostream>
#include <iterator>

#include "base/mapped_file.h"
#include "tool_common.h"

namespace specula::tools {

config::FlagParser run_flags() {
  using config::FlagKind;
  config::FlagParser p("run", "-m MODEL.gguf (-p TEXT | -f FILE | --tokens IDS) [options]");
  p.add({{"-m", "--model"}, FlagKind::kValue, "model GGUF file", "", "FILE"});
  p.add({{"-p", "--prompt"}, FlagKind::kValue, "prompt text", "", "TEXT"});
  p.add({{"-f", "--file"}, FlagKind::kValue, "read the prompt from FILE ('-' = stdin)", "", "FILE"});
  p.add({{"--tokens"}, FlagKind::kValue, "the prompt as token ids (comma separated; no BOS is added)", "", "IDS"});
  p.add({{"-n", "--n-predict"}, FlagKind::kValue, "tokens to generate (-1 = until a stop or the context is full)", "256"});
  p.add({{"--chat"}, FlagKind::kSwitch, "apply the model's chat template to the prompt (one user turn)", ""});
  p.add({{"--system"}, FlagKind::kValue, "system prompt (with --chat)", "", "TEXT"});
  p.add({{"--think"}, FlagKind::kSwitch, "enable thinking in the chat template (with --chat)", ""});
  p.add({{"--chat-template"}, FlagKind::kValue, "gemma4-it | gemma4-it-interleaved | gemma4-early | gemma3-it | smollm2 | chatml", "from the GGUF", "NAME"});
  p.add({{"--temp", "--temperature"}, FlagKind::kValue, "temperature (<= 0: greedy)", "0.8"});
  p.add({{"--top-k"}, FlagKind::kValue, "top-k (0 = off)", "40"});
  p.add({{"--top-p"}, FlagKind::kValue, "top-p (1 = off)", "0.95"});
  p.add({{"--min-p"}, FlagKind::kValue, "min-p (0 = off)", "0.05"});
  p.add({{"--typical", "--typical-p"}, FlagKind::kValue, "locally typical sampling (1 = off)", "1.0"});
  p.add({{"--repeat-penalty"}, FlagKind::kValue, "repetition penalty (1 = off)", "1.0"});
  p.add({{"--repeat-last-n"}, FlagKind::kValue, "penalty window (0 = off, -1 = all)", "64"});
  p.add({{"--presence-penalty"}, FlagKind::kValue, "presence penalty", "0.0"});
  p.add({{"--frequency-penalty"}, FlagKind::kValue, "frequency penalty", "0.0"});
  p.add({{"-s", "--seed"}, FlagKind::kValue, "random seed", "0"});
  p.add({{"--ignore-eos"}, FlagKind::kSwitch, "do not stop at end-of-generation tokens", ""});
  p.add({{"--stop"}, FlagKind::kRepeated, "stop string (repeatable)", "", "TEXT"});
  p.add({{"-c", "--ctx-size"}, FlagKind::kValue, "context size in tokens", "4096"});
  p.add({{"-ub", "--ubatch-size"}, FlagKind::kValue, "prefill chunk size", "512"});
  p.add({{"-ctk", "--cache-type-k"}, FlagKind::kValue, kv::kCacheTypeHelp, kv::kCacheTypeDefault, "TYPE"});
  p.add({{"-ctv", "--cache-type-v"}, FlagKind::kValue, kv::kCacheTypeHelp, kv::kCacheTypeDefault, "TYPE"});
  p.add({{"-t", "--threads"}, FlagKind::kValue, "CPU threads", "all cores"});
  add_activations_flag(p);
  p.add({{"--print-ids"}, FlagKind::kSwitch, "print the generated token ids on one line after the text", ""});
  p.add({{"--no-display-prompt"}, FlagKind::kSwitch, "do not echo the prompt before the generated text", ""});
  p.add({{"--mmproj"}, FlagKind::kValue, "vision projector GGUF (needed by --image)", "", "FILE"});
  p.add({{"--image"}, FlagKind::kRepeated,
         "image file (repeatable); each <|image|> in the prompt marks where the next one goes, else before the text",
         "", "FILE"});
  p.add({{"--image-max-tokens"}, FlagKind::kValue, "soft tokens per image: 70, 140, 280, 560 or 1120", "280"});
  config::add_spec_flags(p);
  p.add({{"--spec-stats"}, FlagKind::kSwitch, "print the drafted and accepted tokens of every speculation round", ""});
  return p;
}

namespace {

Result<std::string> read_prompt_file(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  return read_file(path);
}

Status read_sampling(const config::FlagValues& f, runtime::SamplerParams& s) {
  SPECULA_TRY(const auto temp, f.get_double("--temperature", -1e9, 1e9));
  SPECULA_TRY(const auto top_k, f.get_int("--top-k", 0, 1 << 30));
  SPECULA_TRY(const auto top_p, f.get_double("--top-p", 0, 1));
  SPECULA_TRY(const auto min_p, f.get_double("--min-p", 0, 1));
  SPECULA_TRY(const auto typical, f.get_double("--typical-p", 0, 1));
  SPECULA_TRY(const auto rep, f.get_double("--repeat-penalty", 1e-6, 1e6));
  SPECULA_TRY(const auto last_n, f.get_int("--repeat-last-n", -1, 1 << 30));
  SPECULA_TRY(const auto presence, f.get_double("--presence-penalty", -1e6, 1e6));
  SPECULA_TRY(const auto frequency, f.get_double("--frequency-penalty", -1e6, 1e6));
  SPECULA_TRY(const auto seed, f.get_int("--seed", 0, INT64_MAX));
  if (temp) s.temperature = static_cast<float>(*temp);
  if (top_k) s.top_k = static_cast<int32_t>(*top_k);
  if (top_p) s.top_p = static_cast<float>(*top_p);
  if (min_p) s.min_p = static_cast<float>(*min_p);
  if (typical) s.typical_p = static_cast<float>(*typical);
  if (rep) s.repeat_penalty = static_cast<float>(*rep);
  if (last_n) s.penalty_last_n = static_cast<int32_t>(*last_n);
  if (presence) s.presence_penalty = static_cast<float>(*presence);
  if (frequency) s.frequency_penalty = static_cast<float>(*frequency);
  if (seed) s.seed = static_cast<uint64_t>(*seed);
  return ok_status();
}

Status read_prompt(const config::FlagValues& f, RunSettings& r) {
  const int sources = f.has("--prompt") + f.has("--file") + f.has("--tokens");
  if (sources != 1) return make_error(ErrorCode::kInvalidArgument, "give exactly one of -p, -f and --tokens");
  if (auto p = f.get("--prompt")) r.prompt = *p;
  if (auto file = f.get("--file")) {
    SPECULA_TRY(r.prompt, read_prompt_file(*file));
  }
  if (auto ids = f.get("--tokens")) {
    if (f.has("--chat")) return make_error(ErrorCode::kInvalidArgument, "--tokens and --chat cannot be combined");
    SPECULA_TRY(r.tokens, parse_token_list(*ids));
    if (r.tokens->empty()) return make_error(ErrorCode::kInvalidArgument, "--tokens is empty");
  }
  r.chat = f.has("--chat");
  r.system = f.get("--system");
  r.thinking = f.has("--think");
  r.chat_template = f.get("--chat-template");
  if (!r.chat && (r.system || r.thinking || r.chat_template)) {
    return make_error(ErrorCode::kInvalidArgument, "--system, --think and --chat-template need --chat");
  }
  return ok_status();
}

}  // namespace

Result<RunSettings> run_settings(const config::FlagValues& f) {
  RunSettings r;
  const auto model = f.get("--model");
  if (!model) return make_error(ErrorCode::kInvalidArgument, "-m MODEL.gguf is required");
  r.model_path = *model;
  SPECULA_RETURN_IF_ERROR(read_prompt(f, r));
  SPECULA_RETURN_IF_ERROR(read_sampling(f, r.sampling));
  SPECULA_TRY(const auto n, f.get_int("--n-predict", -1, 1 << 30));
  r.stop.max_tokens = n ? static_cast<int32_t>(*n) : 256;
  r.stop.ignore_eos = f.has("--ignore-eos");
  r.stop.stop = f.all("--stop");
  SPECULA_TRY(const auto ctx, f.get_int("--ctx-size", 8, 1 << 22));
  SPECULA_TRY(const auto ub, f.get_int("--ubatch-size", 1, 1 << 20));
  if (ctx) r.n_ctx = static_cast<int>(*ctx);
  if (ub) r.ubatch = static_cast<int>(*ub);
  SPECULA_TRY(r.cache_types, kv::parse_cache_types(f.get("--cache-type-k"), f.get("--cache-type-v")));
  SPECULA_TRY(r.threads, thread_count(f));
  SPECULA_TRY(r.activations, activations(f));
  r.print_ids = f.has("--print-ids");
  r.echo_prompt = !f.has("--no-display-prompt");
  SPECULA_TRY(r.spec, config::spec_config_from_flags(f));
  r.spec_stats = f.has("--spec-stats");
  r.mmproj_path = f.get("--mmproj");
  r.images = f.all("--image");
  if (!r.images.empty() && !r.mmproj_path) return make_error(ErrorCode::kInvalidArgument, "--image needs --mmproj");
  SPECULA_TRY(const auto budget, f.get_int("--image-max-tokens", 1, 1 << 20));
  if (budget) r.image_max_tokens = static_cast<int>(*budget);
  if (r.image_max_tokens != 70 && r.image_max_tokens != 140 && r.image_max_tokens != 280 &&
      r.image_max_tokens != 560 && r.image_max_tokens != 1120) {
    return make_error(ErrorCode::kInvalidArgument, "--image-max-tokens must be 70, 140, 280, 560 or 1120");
  }
  if (r.spec_stats && std::holds_alternative<config::SpecOff>(r.spec)) {
    return make_error(ErrorCode::kInvalidArgument, "--spec-stats needs speculation (--mtp-head or --spec-type ngram)");
  }
  return r;
}

}  // namespace specula::tools
