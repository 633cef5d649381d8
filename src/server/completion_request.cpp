#include "server/completion_request.h"

#include <cmath>
#include <random>
#include <set>

#include "server/media.h"

namespace specula::server {
namespace {

using json = nlohmann::json;

// Fields each endpoint implements, and OpenAI fields accepted and ignored (they do not change the output).
const std::set<std::string> kSampling = {"temperature", "top_p", "top_k", "min_p", "seed", "stop", "presence_penalty",
                                         "frequency_penalty", "logit_bias", "repeat_penalty", "repeat_last_n",
                                         "typical_p", "ignore_eos", "stream", "cache_prompt", "id_slot", "model",
                                         "n", "min_keep"};
const std::set<std::string> kChatOnly = {"messages", "max_tokens", "max_completion_tokens", "stream_options",
                                         "chat_template_kwargs", "n_predict", "logprobs", "top_logprobs", "tools",
                                         "tool_choice", "response_format"};
const std::set<std::string> kCompletionsOnly = {"prompt", "max_tokens", "stream_options", "echo", "logprobs",
                                                "suffix", "n_predict"};
const std::set<std::string> kLlamaOnly = {"prompt", "n_predict", "n_probs", "post_sampling_probs", "return_tokens"};
const std::set<std::string> kIgnored = {"user", "metadata", "store", "service_tier", "parallel_tool_calls",
                                        "best_of", "reasoning_format"};

Result<const json*> field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return static_cast<const json*>(nullptr);
  return &*it;
}

Result<std::optional<double>> number(const json& body, const char* key, double lo, double hi) {
  SPECULA_TRY(const json* v, field(body, key));
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return make_error(ErrorCode::kInvalidArgument, "'{}' must be a number", key);
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    return make_error(ErrorCode::kInvalidArgument, "'{}' must be in [{}, {}], got {}", key, lo, hi, v->dump());
  }
  return std::optional<double>(d);
}

Result<std::optional<int64_t>> integer(const json& body, const char* key, int64_t lo, int64_t hi) {
  SPECULA_TRY(const json* v, field(body, key));
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return make_error(ErrorCode::kInvalidArgument, "'{}' must be in [{}, {}], got {}", key, lo, hi, v->dump());
  }
  if (!v->is_number_integer()) return make_error(ErrorCode::kInvalidArgument, "'{}' must be an integer", key);
  const int64_t i = v->get<int64_t>();
  if (i < lo || i > hi) {
    return make_error(ErrorCode::kInvalidArgument, "'{}' must be in [{}, {}], got {}", key, lo, hi, i);
  }
  return std::optional<int64_t>(i);
}

Result<std::optional<bool>> boolean(const json& body, const char* key) {
  SPECULA_TRY(const json* v, field(body, key));
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return make_error(ErrorCode::kInvalidArgument, "'{}' must be a boolean", key);
  return std::optional<bool>(v->get<bool>());
}

Status check_fields(Api api, const json& body) {
  const auto& own = api == Api::kChat ? kChatOnly : api == Api::kCompletions ? kCompletionsOnly : kLlamaOnly;
  for (const auto& [key, value] : body.items()) {
    if (kSampling.count(key) || own.count(key) || kIgnored.count(key)) continue;
    return make_error(ErrorCode::kInvalidArgument, "unknown field '{}'", key);
  }
  return ok_status();
}

Status read_sampling(const json& b, const config::ServeSampling& d, runtime::SamplerParams& s) {
  s.temperature = static_cast<float>(d.temperature);
  s.top_k = d.top_k;
  s.top_p = static_cast<float>(d.top_p);
  s.min_p = static_cast<float>(d.min_p);
  s.repeat_penalty = static_cast<float>(d.repeat_penalty);
  s.penalty_last_n = d.repeat_last_n;
  s.presence_penalty = static_cast<float>(d.presence_penalty);
  s.frequency_penalty = static_cast<float>(d.frequency_penalty);
  SPECULA_TRY(const auto temp, number(b, "temperature", 0, 100));
  SPECULA_TRY(const auto top_p, number(b, "top_p", 0, 1));
  SPECULA_TRY(const auto top_k, integer(b, "top_k", 0, 1 << 30));
  SPECULA_TRY(const auto min_p, number(b, "min_p", 0, 1));
  SPECULA_TRY(const auto typical, number(b, "typical_p", 0, 1));
  SPECULA_TRY(const auto presence, number(b, "presence_penalty", -2, 2));
  SPECULA_TRY(const auto frequency, number(b, "frequency_penalty", -2, 2));
  SPECULA_TRY(const auto repeat, number(b, "repeat_penalty", 1e-6, 1e6));
  SPECULA_TRY(const auto last_n, integer(b, "repeat_last_n", -1, 1 << 30));
  SPECULA_TRY(const auto min_keep, integer(b, "min_keep", 1, 1 << 20));
  SPECULA_TRY(const auto seed, integer(b, "seed", -1, INT64_MAX));
  if (temp) s.temperature = static_cast<float>(*temp);
  if (top_p) s.top_p = static_cast<float>(*top_p);
  if (top_k) s.top_k = static_cast<int32_t>(*top_k);
  if (min_p) s.min_p = static_cast<float>(*min_p);
  if (typical) s.typical_p = static_cast<float>(*typical);
  if (presence) s.presence_penalty = static_cast<float>(*presence);
  if (frequency) s.frequency_penalty = static_cast<float>(*frequency);
  if (repeat) s.repeat_penalty = static_cast<float>(*repeat);
  if (last_n) s.penalty_last_n = static_cast<int32_t>(*last_n);
  if (min_keep) s.min_keep = static_cast<int32_t>(*min_keep);
  if (seed && *seed >= 0) {
    s.seed = static_cast<uint64_t>(*seed);
  } else if (d.seed) {
    s.seed = *d.seed;
  } else {
    s.seed = std::random_device{}();
  }
  return ok_status();
}

Result<runtime::LogitBias> bias_entry(const std::string& key, const json& value, const char* what) {
  int32_t id = 0;
  try {
    size_t used = 0;
    const long long v = std::stoll(key, &used);
    if (used != key.size() || v < 0 || v > INT32_MAX) throw std::out_of_range(key);
    id = static_cast<int32_t>(v);
  } catch (const std::exception&) {
    return make_error(ErrorCode::kInvalidArgument, "{}: '{}' is not a token id", what, key);
  }
  if (value.is_boolean() && !value.get<bool>()) return runtime::LogitBias{id, -INFINITY};
  if (!value.is_number() || !std::isfinite(value.get<double>()) || std::fabs(value.get<double>()) > 100) {
    return make_error(ErrorCode::kInvalidArgument, "{}: the bias of token {} must be a number in [-100, 100]", what, id);
  }
  return runtime::LogitBias{id, value.get<float>()};
}

// OpenAI: {"<id>": bias}; llama.cpp: [[id, bias], ...] (bias false bans the token).
Status read_logit_bias(const json& b, runtime::SamplerParams& s) {
  SPECULA_TRY(const json* v, field(b, "logit_bias"));
  if (v == nullptr) return ok_status();
  if (v->is_object()) {
    for (const auto& [k, val] : v->items()) {
      SPECULA_TRY(auto e, bias_entry(k, val, "logit_bias"));
      s.logit_bias.push_back(e);
    }
    return ok_status();
  }
  if (!v->is_array()) return make_error(ErrorCode::kInvalidArgument, "'logit_bias' must be an object or an array");
  for (const auto& item : *v) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_number_integer()) {
      return make_error(ErrorCode::kInvalidArgument, "'logit_bias' items must be [token_id, bias]");
    }
    SPECULA_TRY(auto e, bias_entry(std::to_string(item[0].get<int64_t>()), item[1], "logit_bias"));
    s.logit_bias.push_back(e);
  }
  return ok_status();
}

Status read_stop(const json& b, Api api, const config::ServeConfig& cfg, runtime::StopParams& stop) {
  SPECULA_TRY(const json* v, field(b, "stop"));
  if (v != nullptr) {
    if (v->is_string()) {
      stop.stop.push_back(v->get<std::string>());
    } else if (v->is_array() && v->size() <= 16) {
      for (const auto& s : *v) {
        if (!s.is_string()) return make_error(ErrorCode::kInvalidArgument, "'stop' items must be strings");
        stop.stop.push_back(s.get<std::string>());
      }
    } else {
      return make_error(ErrorCode::kInvalidArgument, "'stop' must be a string or an array of at most 16 strings");
    }
  }
  stop.max_tokens = cfg.n_predict;
  SPECULA_TRY(const auto n_predict, integer(b, "n_predict", -1, 1 << 30));
  if (n_predict) stop.max_tokens = static_cast<int32_t>(*n_predict);
  if (api != Api::kLlamaCompletion) {
    SPECULA_TRY(const auto max_tokens, integer(b, "max_tokens", 0, 1 << 30));
    SPECULA_TRY(const auto max_completion, integer(b, "max_completion_tokens", 0, 1 << 30));
    if (max_tokens) stop.max_tokens = static_cast<int32_t>(*max_tokens);
    if (max_completion) stop.max_tokens = static_cast<int32_t>(*max_completion);
  }
  SPECULA_TRY(const auto ignore_eos, boolean(b, "ignore_eos"));
  stop.ignore_eos = ignore_eos.value_or(false);
  return ok_status();
}

// Features that are refused (never silently ignored): n > 1, tools, structured output, echo, suffix,
// post-sampling probabilities.
Status refuse_unsupported(const json& b) {
  SPECULA_TRY(const auto n, integer(b, "n", 1, 128));
  if (n && *n != 1) return make_error(ErrorCode::kUnsupported, "'n' must be 1 (several choices are not supported)");
  if (auto it = b.find("tools"); it != b.end() && !it->is_null() && !(it->is_array() && it->empty())) {
    return make_error(ErrorCode::kUnsupported, "'tools' (function calling) is not supported");
  }
  if (auto it = b.find("response_format"); it != b.end() && !it->is_null()) {
    if (!it->is_object() || it->value("type", json()) != "text") {
      return make_error(ErrorCode::kUnsupported, "'response_format' other than {{\"type\": \"text\"}} is not supported");
    }
  }
  SPECULA_TRY(const auto echo, boolean(b, "echo"));
  if (echo.value_or(false)) return make_error(ErrorCode::kUnsupported, "'echo' is not supported");
  if (auto it = b.find("suffix"); it != b.end() && !it->is_null()) {
    return make_error(ErrorCode::kUnsupported, "'suffix' is not supported");
  }
  SPECULA_TRY(const auto post_sampling, boolean(b, "post_sampling_probs"));
  if (post_sampling.value_or(false)) {
    return make_error(ErrorCode::kUnsupported, "'post_sampling_probs' is not supported (probabilities are those of "
                      "the model's raw logits)");
  }
  return ok_status();
}

// The logprobs a request asks for, as GenRequest::n_probs (-1: none). Chat: logprobs (bool) + top_logprobs
// (0..20, only with logprobs: true, as OpenAI). /v1/completions: logprobs = the number of top entries (0..20;
// OpenAI's legacy limit is 5). /completion: n_probs (0 = none, as llama-server).
Result<int> read_logprobs(const json& b, Api api) {
  constexpr int64_t kMax = runtime::kMaxTopLogprobs;
  if (api == Api::kChat) {
    SPECULA_TRY(const auto on, boolean(b, "logprobs"));
    SPECULA_TRY(const auto top, integer(b, "top_logprobs", 0, kMax));
    if (top && !on.value_or(false)) {
      return make_error(ErrorCode::kInvalidArgument, "'top_logprobs' requires 'logprobs': true");
    }
    return on.value_or(false) ? static_cast<int>(top.value_or(0)) : -1;
  }
  if (api == Api::kCompletions) {
    SPECULA_TRY(const auto n, integer(b, "logprobs", 0, kMax));
    return n ? static_cast<int>(*n) : -1;
  }
  SPECULA_TRY(const auto n, integer(b, "n_probs", 0, kMax));
  return n.value_or(0) > 0 ? static_cast<int>(*n) : -1;
}

inline constexpr std::string_view kMediaMarker = "<__media__>";  // llama-server's default media marker

// llama-server's multimodal prompt {"prompt_string": "... <__media__> ...", "multimodal_data": [base64, ...]}:
// each marker becomes the image placeholder; the images' bytes go to `images` in order.
Result<std::string> read_multimodal_prompt(const json& p, const ParseContext& ctx,
                                           std::vector<std::vector<uint8_t>>& images) {
  auto text = p.find("prompt_string");
  auto data = p.find("multimodal_data");
  if (text == p.end() || !text->is_string()) {
    return make_error(ErrorCode::kInvalidArgument, "'prompt.prompt_string' must be a string");
  }
  if (data != p.end() && !data->is_null() && !data->is_array()) {
    return make_error(ErrorCode::kInvalidArgument, "'prompt.multimodal_data' must be an array of base64 strings");
  }
  std::string out = text->get<std::string>();
  size_t n_markers = 0;
  for (size_t at = out.find(kMediaMarker); at != std::string::npos; at = out.find(kMediaMarker, at)) {
    out.replace(at, kMediaMarker.size(), "<|image|>");
    ++n_markers;
  }
  const size_t n_data = data == p.end() || data->is_null() ? 0 : data->size();
  if (n_data != n_markers) {
    return make_error(ErrorCode::kInvalidArgument, "'prompt' has {} {} marker(s) but {} multimodal_data item(s)",
                      n_markers, kMediaMarker, n_data);
  }
  if (n_data > 0 && !ctx.vision) {
    return make_error(ErrorCode::kInvalidArgument, "'prompt.multimodal_data': image input needs a server started "
                      "with --mmproj (this one has no vision model)");
  }
  for (size_t i = 0; i < n_data; ++i) {
    const json& item = (*data)[i];
    const std::string what = fmt::format("prompt.multimodal_data[{}]", i);
    if (!item.is_string()) return make_error(ErrorCode::kInvalidArgument, "'{}' must be a string", what);
    SPECULA_TRY(auto bytes, image_bytes(item.get_ref<const std::string&>(), what));
    images.push_back(std::move(bytes));
  }
  return out;
}

// A text prompt, or token ids, or a mixed array of both (llama.cpp); a one-element array of one prompt (OpenAI);
// llama-server's multimodal object (/completion only).
Result<std::vector<int32_t>> read_prompt(const json& b, Api api, const ParseContext& ctx,
                                         std::vector<std::vector<uint8_t>>& images) {
  SPECULA_TRY(const json* v, field(b, "prompt"));
  if (v == nullptr) return make_error(ErrorCode::kInvalidArgument, "'prompt' is required");
  json multimodal_text;
  if (v->is_object() && api == Api::kLlamaCompletion) {
    SPECULA_TRY(std::string t, read_multimodal_prompt(*v, ctx, images));
    multimodal_text = std::move(t);
    v = &multimodal_text;
  }
  const json* p = v;
  if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) p = &(*v)[0];
  std::vector<int32_t> out;
  // BOS goes before a prompt that starts with text; a prompt that starts with token ids is taken as given.
  const bool starts_with_text = p->is_string() || (p->is_array() && !p->empty() && (*p)[0].is_string());
  if (auto bos = ctx.tok->vocab().bos_id(); bos && ctx.tok->vocab().add_bos() && starts_with_text) out.push_back(*bos);
  if (p->is_string()) {
    SPECULA_TRY(auto ids, ctx.tok->tokenize(p->get<std::string>(), {.add_special = false, .parse_special = true}));
    out.insert(out.end(), ids.begin(), ids.end());
  } else if (p->is_array()) {
    for (const auto& item : *p) {
      if (item.is_string()) {
        SPECULA_TRY(auto ids, ctx.tok->tokenize(item.get<std::string>(), {.add_special = false, .parse_special = true}));
        out.insert(out.end(), ids.begin(), ids.end());
      } else if (item.is_number_integer() && item.get<int64_t>() >= 0 && item.get<int64_t>() < ctx.tok->n_vocab()) {
        out.push_back(static_cast<int32_t>(item.get<int64_t>()));
      } else {
        return make_error(ErrorCode::kInvalidArgument, "'prompt' items must be strings or token ids in [0, {})",
                          ctx.tok->n_vocab());
      }
    }
  } else {
    return make_error(ErrorCode::kInvalidArgument, "'prompt' must be a string or an array of strings/token ids");
  }
  if (out.empty()) return make_error(ErrorCode::kInvalidArgument, "'prompt' is empty");
  return out;
}

// An image_url part: {"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}} (OpenAI) or
// "image_url": "<url>"; the bytes go to `images` when given.
Status read_image_part(const json& part, size_t index, size_t k, const ParseContext& ctx,
                       std::vector<std::vector<uint8_t>>* images) {
  const std::string where = fmt::format("messages[{}].content[{}]", index, k);
  if (images == nullptr) return ok_status();
  if (!ctx.vision) {
    return make_error(ErrorCode::kInvalidArgument, "{}: image input needs a server started with --mmproj (this one "
                      "has no vision model)", where);
  }
  const json* url = nullptr;
  if (auto it = part.find("image_url"); it != part.end()) {
    if (it->is_string()) url = &*it;
    if (it->is_object() && it->contains("url")) url = &(*it)["url"];
  }
  if (url == nullptr || !url->is_string()) {
    return make_error(ErrorCode::kInvalidArgument, "{}.image_url.url must be a string", where);
  }
  SPECULA_TRY(auto bytes, image_bytes(url->get_ref<const std::string&>(), where));
  images->push_back(std::move(bytes));
  return ok_status();
}

Result<tokenizer::ChatMessage> read_message(const json& m, size_t index, const ParseContext& ctx,
                                            std::vector<std::vector<uint8_t>>* images) {
  if (!m.is_object()) return make_error(ErrorCode::kInvalidArgument, "messages[{}] must be an object", index);
  auto role = m.find("role");
  if (role == m.end() || !role->is_string()) {
    return make_error(ErrorCode::kInvalidArgument, "messages[{}].role must be a string", index);
  }
  tokenizer::ChatMessage msg;
  SPECULA_TRY(msg.role, tokenizer::parse_chat_role(role->get<std::string>()));
  auto content = m.find("content");
  if (content == m.end() || content->is_null()) {
    return make_error(ErrorCode::kInvalidArgument, "messages[{}].content is required", index);
  }
  if (content->is_string()) {
    msg.parts.push_back(tokenizer::ChatPart::make_text(content->get<std::string>()));
    return msg;
  }
  if (!content->is_array()) {
    return make_error(ErrorCode::kInvalidArgument, "messages[{}].content must be a string or an array of parts", index);
  }
  for (size_t k = 0; k < content->size(); ++k) {
    const json& part = (*content)[k];
    const std::string type = part.is_object() && part.contains("type") && part["type"].is_string()
                                 ? part["type"].get<std::string>() : "";
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      msg.parts.push_back(tokenizer::ChatPart::make_text(part["text"].get<std::string>()));
    } else if (type == "image_url") {
      SPECULA_RETURN_IF_ERROR(read_image_part(part, index, k, ctx, images));
      msg.parts.push_back(tokenizer::ChatPart::image());
    } else if (type == "input_audio" || type == "input_video") {
      return make_error(ErrorCode::kUnsupported, "messages[{}].content[{}]: {} input is not supported (images only)",
                        index, k, type);
    } else {
      return make_error(ErrorCode::kInvalidArgument, "messages[{}].content[{}] must be {{\"type\": \"text\", "
                        "\"text\": ...}} or {{\"type\": \"image_url\", \"image_url\": {{\"url\": ...}}}}",
                        index, k);
    }
  }
  return msg;
}

}  // namespace

Result<nlohmann::json> parse_json_object(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorCode::kInvalidArgument, "the request body is not valid JSON");
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "the request body must be a JSON object");
  return j;
}

Result<std::string> render_messages(const json& messages, const ParseContext& ctx, bool enable_thinking,
                                    std::vector<std::vector<uint8_t>>* images) {
  if (!messages.is_array() || messages.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "'messages' must be a non-empty array");
  }
  if (!ctx.chat) return make_error(ErrorCode::kUnsupported, "the model has no chat template specula can render");
  std::vector<tokenizer::ChatMessage> msgs;
  for (size_t i = 0; i < messages.size(); ++i) {
    SPECULA_TRY(auto m, read_message(messages[i], i, ctx, images));
    msgs.push_back(std::move(m));
  }
  return tokenizer::render_chat(msgs, {.variant = *ctx.chat, .add_generation_prompt = true,
                                       .enable_thinking = enable_thinking, .add_bos = true});
}

Result<CompletionRequest> parse_completion(Api api, const std::string& text, const ParseContext& ctx) {
  SPECULA_TRY(const json b, parse_json_object(text));
  SPECULA_RETURN_IF_ERROR(check_fields(api, b));
  SPECULA_RETURN_IF_ERROR(refuse_unsupported(b));
  CompletionRequest r;
  r.api = api;
  SPECULA_RETURN_IF_ERROR(read_sampling(b, ctx.config->sampling, r.sampling));
  SPECULA_RETURN_IF_ERROR(read_logit_bias(b, r.sampling));
  SPECULA_RETURN_IF_ERROR(read_stop(b, api, *ctx.config, r.stop));
  SPECULA_TRY(r.n_probs, read_logprobs(b, api));
  SPECULA_TRY(const auto stream, boolean(b, "stream"));
  r.stream = stream.value_or(false);
  if (auto it = b.find("stream_options"); it != b.end() && !it->is_null()) {
    if (!it->is_object()) return make_error(ErrorCode::kInvalidArgument, "'stream_options' must be an object");
    SPECULA_TRY(const auto usage, boolean(*it, "include_usage"));
    r.include_usage = usage.value_or(false);
  }
  SPECULA_TRY(const auto id_slot, integer(b, "id_slot", -1, ctx.config->n_parallel - 1));
  r.id_slot = static_cast<int>(id_slot.value_or(-1));
  SPECULA_TRY(const auto cache_prompt, boolean(b, "cache_prompt"));
  r.cache_prompt = cache_prompt.value_or(true);
  if (b.contains("model") && !b["model"].is_string()) {
    return make_error(ErrorCode::kInvalidArgument, "'model' must be a string");
  }
  if (api == Api::kChat) {
    auto messages = b.find("messages");
    if (messages == b.end()) return make_error(ErrorCode::kInvalidArgument, "'messages' is required");
    bool thinking = false;
    if (auto kw = b.find("chat_template_kwargs"); kw != b.end() && kw->is_object()) {
      SPECULA_TRY(const auto t, boolean(*kw, "enable_thinking"));
      thinking = t.value_or(false);
    }
    SPECULA_TRY(const std::string prompt, render_messages(*messages, ctx, thinking, &r.images));
    SPECULA_TRY(r.prompt, ctx.tok->tokenize(prompt, {.add_special = false, .parse_special = true}));
  } else {
    SPECULA_TRY(r.prompt, read_prompt(b, api, ctx, r.images));
  }
  return r;
}

}  // namespace specula::server
