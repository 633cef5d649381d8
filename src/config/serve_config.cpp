#include "config/serve_config.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace specula::config {
namespace {

// llama-server flags specula knows about but does not implement (refused with this reason, never ignored).
constexpr std::array<std::pair<const char*, const char*>, 13> kUnsupported = {{
    {"--lora", "LoRA adapters are not supported"},
    {"--embedding", "the embeddings endpoint is not implemented"},
    {"--embeddings", "the embeddings endpoint is not implemented"},
    {"--rerank", "reranking is not implemented"},
    {"--reranking", "reranking is not implemented"},
    {"--grammar", "grammars are not implemented"},
    {"--jinja", "specula renders chat templates natively; Jinja templates are not executed"},
    {"-ngl", "GPU offload is not available in this build (CPU only)"},
    {"--n-gpu-layers", "GPU offload is not available in this build (CPU only)"},
    {"-fa", "flash attention is always used; the switch is not needed"},
    {"--flash-attn", "flash attention is always used; the switch is not needed"},
    {"--ssl-key-file", "TLS is not supported; put a reverse proxy in front"},
    {"--ssl-cert-file", "TLS is not supported; put a reverse proxy in front"},
}};

void add_sampling_flags(FlagParser& p) {
  using K = FlagKind;
  p.add({{"--temp", "--temperature"}, K::kValue, "default temperature (<= 0: greedy)", "0.8"});
  p.add({{"--top-k"}, K::kValue, "default top-k (0 = off)", "40"});
  p.add({{"--top-p"}, K::kValue, "default top-p (1 = off)", "0.95"});
  p.add({{"--min-p"}, K::kValue, "default min-p (0 = off)", "0.05"});
  p.add({{"--repeat-penalty"}, K::kValue, "default repetition penalty (1 = off)", "1.0"});
  p.add({{"--repeat-last-n"}, K::kValue, "penalty window (0 = off, -1 = all)", "64"});
  p.add({{"--presence-penalty"}, K::kValue, "default presence penalty", "0.0"});
  p.add({{"--frequency-penalty"}, K::kValue, "default frequency penalty", "0.0"});
  p.add({{"-s", "--seed"}, K::kValue, "default seed (-1 = random per request)", "-1"});
}

Status read_sampling(const FlagValues& f, ServeSampling& s) {
  SPECULA_TRY(const auto temp, f.get_double("--temperature", -1e6, 1e6));
  SPECULA_TRY(const auto top_k, f.get_int("--top-k", 0, 1 << 30));
  SPECULA_TRY(const auto top_p, f.get_double("--top-p", 0, 1));
  SPECULA_TRY(const auto min_p, f.get_double("--min-p", 0, 1));
  SPECULA_TRY(const auto rep, f.get_double("--repeat-penalty", 1e-6, 1e6));
  SPECULA_TRY(const auto last_n, f.get_int("--repeat-last-n", -1, 1 << 30));
  SPECULA_TRY(const auto presence, f.get_double("--presence-penalty", -1e6, 1e6));
  SPECULA_TRY(const auto frequency, f.get_double("--frequency-penalty", -1e6, 1e6));
  SPECULA_TRY(const auto seed, f.get_int("--seed", -1, INT64_MAX));
  if (temp) s.temperature = *temp;
  if (top_k) s.top_k = static_cast<int>(*top_k);
  if (top_p) s.top_p = *top_p;
  if (min_p) s.min_p = *min_p;
  if (rep) s.repeat_penalty = *rep;
  if (last_n) s.repeat_last_n = static_cast<int>(*last_n);
  if (presence) s.presence_penalty = *presence;
  if (frequency) s.frequency_penalty = *frequency;
  if (seed && *seed >= 0) s.seed = static_cast<uint64_t>(*seed);
  return ok_status();
}

Status read_sizes(const FlagValues& f, ServeConfig& c) {
  SPECULA_TRY(const auto port, f.get_int("--port", 0, 65535));
  SPECULA_TRY(const auto ctx, f.get_int("--ctx-size", 0, 1 << 22));
  SPECULA_TRY(const auto np, f.get_int("--parallel", 1, 256));
  SPECULA_TRY(const auto threads, f.get_int("--threads", 1, 1024));
  SPECULA_TRY(const auto threads_http, f.get_int("--threads-http", 1, 1024));
  SPECULA_TRY(const auto ub, f.get_int("--ubatch-size", 1, 1 << 20));
  SPECULA_TRY(const auto b, f.get_int("--batch-size", 1, 1 << 20));
  SPECULA_TRY(const auto n, f.get_int("--n-predict", -1, 1 << 30));
  SPECULA_TRY(const auto timeout, f.get_int("--timeout", 1, 1 << 20));
  if (port) c.port = static_cast<int>(*port);
  if (ctx && *ctx > 0) c.n_ctx = static_cast<int>(*ctx);  // llama-server: 0 = from the model; specula keeps 4096
  if (c.n_ctx < 16) return make_error(ErrorCode::kInvalidArgument, "-c/--ctx-size must be at least 16, got {}", c.n_ctx);
  if (np) c.n_parallel = static_cast<int>(*np);
  c.threads = threads ? static_cast<int>(*threads) : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads_http) c.threads_http = static_cast<int>(*threads_http);
  if (ub) c.ubatch = static_cast<int>(*ub);
  if (b && !ub) c.ubatch = static_cast<int>(std::min<long long>(*b, 512));
  if (b && ub && *ub > *b) {
    return make_error(ErrorCode::kInvalidArgument, "-ub/--ubatch-size ({}) cannot exceed -b/--batch-size ({})", *ub, *b);
  }
  if (n) c.n_predict = static_cast<int>(*n);
  if (timeout) c.timeout_s = static_cast<int>(*timeout);
  return ok_status();
}

Status read_keys(const FlagValues& f, ServeConfig& c) {
  for (const auto& list : f.all("--api-key")) {  // llama-server also takes K1,K2
    std::stringstream items(list);
    std::string k;
    while (std::getline(items, k, ',')) {
      if (k.empty()) return make_error(ErrorCode::kInvalidArgument, "--api-key has an empty key");
      c.api_keys.push_back(k);
    }
    if (list.empty() || list.back() == ',') {
      return make_error(ErrorCode::kInvalidArgument, "--api-key has an empty key");
    }
  }
  if (auto path = f.get("--api-key-file")) {
    std::ifstream in(*path);
    if (!in) return make_error(ErrorCode::kNotFound, "--api-key-file {}: cannot open the file", *path);
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) c.api_keys.push_back(line);
    }
    if (c.api_keys.empty()) return make_error(ErrorCode::kInvalidArgument, "--api-key-file {} has no keys", *path);
  }
  return ok_status();
}

// --chat-template-file: the file's text (classified against the renderer's variants by the caller).
Status read_chat_template(const FlagValues& f, ServeConfig& c) {
  const auto path = f.get("--chat-template-file");
  if (!path) return ok_status();
  std::error_code ec;
  if (std::filesystem::is_directory(*path, ec)) {
    return make_error(ErrorCode::kInvalidArgument, "--chat-template-file {}: is a directory", *path);
  }
  std::ifstream in(*path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "--chat-template-file {}: cannot open the file", *path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kIo, "--chat-template-file {}: read error", *path);
  c.chat_template_file = *path;
  c.chat_template_text = text.str();
  if (c.chat_template_text.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--chat-template-file {}: the file is empty", *path);
  }
  return ok_status();
}

Status read_vision(const FlagValues& f, ServeConfig& c) {
  SPECULA_TRY(const auto max_tokens, f.get_int("--image-max-tokens", 1, 1 << 16));
  if (max_tokens && !f.get("--mmproj")) return make_error(ErrorCode::kInvalidArgument, "--image-max-tokens needs --mmproj");
  if (max_tokens && *max_tokens != 70 && *max_tokens != 140 && *max_tokens != 280 && *max_tokens != 560 &&
      *max_tokens != 1120) {
    return make_error(ErrorCode::kInvalidArgument, "--image-max-tokens must be 70, 140, 280, 560 or 1120 (the soft "
                      "token budgets of Gemma 4's image processor), got {}", *max_tokens);
  }
  const auto path = f.get("--mmproj");
  if (!path) {
    if (max_tokens) return make_error(ErrorCode::kInvalidArgument, "--image-max-tokens needs --mmproj");
    return ok_status();
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*path, ec)) {
    return make_error(ErrorCode::kNotFound, "--mmproj {}: no such file", *path);
  }
  c.vision = VisionOn{*path, max_tokens ? static_cast<int>(*max_tokens) : kDefaultImageMaxTokens};
  c.max_body_bytes = kMaxBodyBytesVision;  // inline images (base64) need room
  return ok_status();
}

}  // namespace

FlagParser serve_flags() {
  using K = FlagKind;
  FlagParser p("serve", "-m MODEL.gguf [--mtp-head ASSISTANT.gguf] [--mmproj MMPROJ.gguf] [--host H] [--port P] "
                        "[options]");
  p.add({{"-m", "--model"}, K::kValue, "model GGUF file (required)", "", "FILE"});
  p.add({{"-a", "--alias"}, K::kValue, "model name reported by /v1/models", "the file name", "NAME"});
  p.add({{"--host"}, K::kValue, "address to listen on", "127.0.0.1", "ADDR"});
  p.add({{"--port"}, K::kValue, "port to listen on", "8080"});
  p.add({{"-c", "--ctx-size"}, K::kValue, "context size per slot in tokens", "4096"});
  p.add({{"-np", "--parallel"}, K::kValue, "number of slots (requests decoded together)", "1"});
  p.add({{"-t", "--threads"}, K::kValue, "compute threads", "all cores"});
  p.add({{"--threads-http"}, K::kValue, "HTTP worker threads", "5 x slots + 2"});
  p.add({{"-ub", "--ubatch-size"}, K::kValue, "prefill chunk size", "512"});
  p.add({{"-b", "--batch-size"}, K::kValue, "logical batch size (caps -ub)", "512"});
  p.add({{"-n", "--n-predict"}, K::kValue, "default max tokens per request (-1 = until a stop)", "-1"});
  add_sampling_flags(p);
  p.add({{"-ctk", "--cache-type-k"}, K::kValue, "KV cache K type: f32 f16 bf16 q8_0 q4_0 turbo2 turbo3 turbo4", "f16", "TYPE"});
  p.add({{"-ctv", "--cache-type-v"}, K::kValue, "KV cache V type (as -ctk)", "f16", "TYPE"});
  p.add({{"-ctkd", "--cache-type-k-draft"}, K::kValue, "draft model K cache type (the MTP assistant reads the target's cache)", "f16", "TYPE"});
  p.add({{"-ctvd", "--cache-type-v-draft"}, K::kValue, "draft model V cache type", "f16", "TYPE"});
  p.add({{"--activations"}, K::kValue,
         "CPU matmul activations: int8 (fastest), int8x2 (int8 plus its rounding residual: ~127x less activation "
         "rounding, slower prefill), f32 (dequantized weights, slow)", "int8", "MODE"});
  add_spec_flags(p);
  p.add({{"-mm", "--mmproj"}, K::kValue,
         "vision projector GGUF (llama.cpp's mmproj, gemma4v): image input (inline data URIs / base64) on the chat "
         "and /completion endpoints", "", "FILE"});
  p.add({{"--image-max-tokens"}, K::kValue, "soft tokens per image: 70, 140, 280, 560 or 1120", "280"});
  p.add({{"--chat-template-file"}, K::kValue,
         "Jinja chat template file to use instead of the model's; it must be one of the templates the native "
         "renderer implements (gemma4-it, gemma4-it-interleaved, gemma4-early, SmolLM2 ChatML), recognised from "
         "its text; the Jinja is not executed", "the model's", "FILE"});
  p.add({{"--api-key"}, K::kRepeated, "require this bearer key (repeatable, or K1,K2)", "", "KEY"});
  p.add({{"--api-key-file"}, K::kValue, "file with one API key per line", "", "FILE"});
  p.add({{"-to", "--timeout"}, K::kValue, "HTTP read/write timeout in seconds", "600"});
  p.add({{"--metrics"}, K::kSwitch, "enable GET /metrics (Prometheus text)", ""});
  p.add({{"--no-slots"}, K::kSwitch, "disable GET /slots", ""});
  p.add({{"--slots"}, K::kSwitch, "enable GET /slots (the default)", ""});
  p.add({{"--log-format"}, K::kValue, "text or json", "text", "FMT"});
  return p;
}

std::optional<std::string> unsupported_serve_flag(const std::string& arg) {
  const std::string name = arg.substr(0, arg.find('='));
  for (const auto& [flag, why] : kUnsupported) {
    if (name == flag) return fmt::format("{} is not supported by specula serve: {}", name, why);
  }
  return std::nullopt;
}

Result<ServeConfig> make_serve_config(const FlagValues& f) {
  ServeConfig c;
  const auto model = f.get("--model");
  if (!model) return make_error(ErrorCode::kInvalidArgument, "-m MODEL.gguf is required");
  c.model_path = *model;
  c.alias = f.get("--alias").value_or(std::filesystem::path(*model).filename().string());
  if (auto host = f.get("--host")) c.host = *host;
  SPECULA_RETURN_IF_ERROR(read_sizes(f, c));
  SPECULA_RETURN_IF_ERROR(read_sampling(f, c.sampling));
  if (auto v = f.get("--cache-type-k")) c.cache_type_k = *v;
  if (auto v = f.get("--cache-type-v")) c.cache_type_v = *v;
  if (auto v = f.get("--cache-type-k-draft")) c.cache_type_k_draft = *v;
  if (auto v = f.get("--cache-type-v-draft")) c.cache_type_v_draft = *v;
  if (auto v = f.get("--activations")) c.activations = *v;
  SPECULA_TRY(c.spec, spec_config_from_flags(f));
  SPECULA_RETURN_IF_ERROR(read_vision(f, c));
  SPECULA_RETURN_IF_ERROR(read_chat_template(f, c));
  SPECULA_RETURN_IF_ERROR(read_keys(f, c));
  c.metrics = f.has("--metrics");
  if (f.has("--no-slots") && f.has("--slots")) {
    return make_error(ErrorCode::kInvalidArgument, "--slots and --no-slots contradict each other");
  }
  c.slots_endpoint = !f.has("--no-slots");
  const std::string log_format = f.get("--log-format").value_or("text");
  if (log_format != "text" && log_format != "json") {
    return make_error(ErrorCode::kInvalidArgument, "--log-format must be text or json, got '{}'", log_format);
  }
  c.log_json = log_format == "json";
  c.queue_max = 4 * c.n_parallel;
  // Enough HTTP workers for every slot, a full queue and two more (so a full queue is answered 503 quickly).
  if (c.threads_http == 0) c.threads_http = c.n_parallel + c.queue_max + 2;
  return c;
}

std::vector<std::string> ServeConfig::describe() const {
  std::vector<std::string> lines;
  lines.push_back(fmt::format("model: {} (alias '{}')", model_path, alias));
  lines.push_back(fmt::format("http: {}:{}, {} http threads, timeout {} s, api key {}, /metrics {}, /slots {}", host,
                              port, threads_http, timeout_s, api_keys.empty() ? "off" : "on",
                              metrics ? "on" : "off", slots_endpoint ? "on" : "off"));
  lines.push_back(fmt::format("scheduler: {} slots x {} tokens, prefill chunk {}, queue {}, {} threads", n_parallel,
                              n_ctx, ubatch, queue_max, threads));
  lines.push_back(fmt::format("kv cache: K {}, V {} (draft K {}, V {}); matmul activations {}", cache_type_k,
                              cache_type_v, cache_type_k_draft, cache_type_v_draft, activations));
  lines.push_back(fmt::format("speculation: {}", config::describe(spec)));
  if (const auto* v = std::get_if<VisionOn>(&vision)) {
    lines.push_back(fmt::format("vision: {} ({} tokens per image)", v->mmproj_path, v->image_max_tokens));
  } else {
    lines.push_back("vision: off");
  }
  if (!chat_template_file.empty()) lines.push_back(fmt::format("chat template file: {}", chat_template_file));
  std::ostringstream s;
  s << "sampling defaults: temp " << sampling.temperature << ", top_k " << sampling.top_k << ", top_p "
    << sampling.top_p << ", min_p " << sampling.min_p << ", repeat_penalty " << sampling.repeat_penalty
    << ", n_predict " << n_predict << ", seed " << (sampling.seed ? std::to_string(*sampling.seed) : "random");
  lines.push_back(s.str());
  return lines;
}

}  // namespace specula::config
