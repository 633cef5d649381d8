#include "server/responses.h"

#include <algorithm>

#include <fmt/format.h>

namespace specula::server {
namespace {
using json = nlohmann::json;

const char* object_name(Api api, bool chunk) {
  switch (api) {
    case Api::kChat: return chunk ? "chat.completion.chunk" : "chat.completion";
    case Api::kCompletions: return "text_completion";
    default: return "completion";
  }
}
}  // namespace

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_json(const runtime::RequestUsage& u) {
  return {{"prompt_tokens", u.n_prompt}, {"completion_tokens", u.n_generated},
          {"total_tokens", u.n_prompt + u.n_generated},
          {"prompt_tokens_details", {{"cached_tokens", u.n_cached}}}};
}

json timings_json(const runtime::RequestUsage& u) {
  const int prompt_n = u.n_prompt - u.n_cached;
  json t = {{"cache_n", u.n_cached},
            {"prompt_n", prompt_n},
            {"prompt_ms", u.prompt_ms},
            {"prompt_per_token_ms", prompt_n > 0 ? u.prompt_ms / prompt_n : 0.0},
            {"prompt_per_second", u.prompt_ms > 0 ? prompt_n * 1e3 / u.prompt_ms : 0.0},
            {"predicted_n", u.n_generated},
            {"predicted_ms", u.generate_ms},
            {"predicted_per_token_ms", u.n_generated > 0 ? u.generate_ms / u.n_generated : 0.0},
            {"predicted_per_second", u.generate_ms > 0 ? u.n_generated * 1e3 / u.generate_ms : 0.0}};
  if (u.n_drafted > 0) {
    t["draft_n"] = u.n_drafted;
    t["draft_n_accepted"] = u.n_accepted;
  }
  return t;
}

json final_response(Api api, const ResponseMeta& meta, const std::string& text, const std::vector<int32_t>& tokens,
                    runtime::FinishReason finish, const runtime::RequestUsage& usage, bool stopped_by_word,
                    const json& logprobs) {
  const char* reason = runtime::finish_reason_name(finish);
  if (api == Api::kLlamaCompletion) {
    const bool eos = finish == runtime::FinishReason::kStop && !stopped_by_word;
    json j = {{"content", text}, {"tokens", tokens}, {"id_slot", usage.slot}, {"stop", true}, {"model", meta.model},
              {"tokens_predicted", usage.n_generated}, {"tokens_evaluated", usage.n_prompt},
              {"tokens_cached", usage.n_cached}, {"truncated", false}, {"stopped_eos", eos},
              {"stopped_word", stopped_by_word}, {"stopped_limit", finish == runtime::FinishReason::kLength},
              {"stop_type", stopped_by_word ? "word" : eos ? "eos" : "limit"}, {"timings", timings_json(usage)}};
    if (!logprobs.is_null()) j["completion_probabilities"] = logprobs;
    return j;
  }
  json choice = {{"index", 0}, {"finish_reason", reason}, {"logprobs", logprobs}};
  if (api == Api::kChat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return {{"id", meta.id}, {"object", object_name(api, false)}, {"created", meta.created}, {"model", meta.model},
          {"choices", json::array({choice})}, {"usage", usage_json(usage)}, {"timings", timings_json(usage)}};
}

json stream_chunk(Api api, const ResponseMeta& meta, const std::string& text,
                  std::optional<runtime::FinishReason> finish, bool first, const runtime::RequestUsage* usage,
                  const json& logprobs) {
  if (api == Api::kLlamaCompletion) {
    json j = {{"content", text}, {"stop", finish.has_value()}};
    if (!logprobs.is_null()) j["completion_probabilities"] = logprobs;
    if (usage != nullptr) {
      j["id_slot"] = usage->slot;
      j["tokens_predicted"] = usage->n_generated;
      j["tokens_evaluated"] = usage->n_prompt;
      j["timings"] = timings_json(*usage);
    }
    return j;
  }
  json choice = {{"index", 0}, {"finish_reason", finish ? json(runtime::finish_reason_name(*finish)) : json(nullptr)}};
  if (api == Api::kChat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!finish) delta["content"] = text;
    choice["delta"] = delta;
    choice["logprobs"] = logprobs;
  } else {
    choice["text"] = text;
    choice["logprobs"] = logprobs;
  }
  json j = {{"id", meta.id}, {"object", object_name(api, true)}, {"created", meta.created}, {"model", meta.model},
            {"choices", json::array({choice})}};
  if (usage != nullptr) j["timings"] = timings_json(*usage);
  return j;
}

json usage_chunk(Api api, const ResponseMeta& meta, const runtime::RequestUsage& usage) {
  return {{"id", meta.id}, {"object", object_name(api, true)}, {"created", meta.created}, {"model", meta.model},
          {"choices", json::array()}, {"usage", usage_json(usage)}};
}

namespace {

// Speculation counters labelled by request kind (text: no images; image: with images) and draft position.
std::string spec_metrics(const runtime::EngineMetrics& m) {
  const std::pair<const char*, const runtime::SpecCounters*> kinds[] = {{"text", &m.spec_text},
                                                                         {"image", &m.spec_image}};
  std::string out;
  auto header = [&](const char* name, const char* help) {
    out += fmt::format("# HELP specula:{} {}\n# TYPE specula:{} counter\n", name, help, name);
  };
  header("spec_drafted_total", "Drafted tokens, by request kind (image: the request has images).");
  for (const auto& [kind, c] : kinds) out += fmt::format("specula:spec_drafted_total{{request=\"{}\"}} {}\n", kind, c->drafted);
  header("spec_accepted_total", "Accepted drafted tokens, by request kind.");
  for (const auto& [kind, c] : kinds) out += fmt::format("specula:spec_accepted_total{{request=\"{}\"}} {}\n", kind, c->accepted);
  auto by_pos = [&](const char* name, const char* help, bool accepted) {
    header(name, help);
    for (const auto& [kind, c] : kinds) {
      const auto& v = accepted ? c->accepted_by_pos : c->drafted_by_pos;
      for (size_t i = 0; i < v.size(); ++i) {
        out += fmt::format("specula:{}{{request=\"{}\",position=\"{}\"}} {}\n", name, kind, i + 1, v[i]);
      }
    }
  };
  by_pos("spec_drafted_by_position_total", "Verify rounds that drafted a token at this position (1 = first draft).",
         false);
  by_pos("spec_accepted_by_position_total", "Drafts accepted at this position (all earlier drafts were accepted too).",
         true);
  // llama-server's names (all requests): verify rounds with drafts, and accepted drafts per position.
  const auto sum_at = [&](bool accepted, size_t i) {
    int64_t n = 0;
    for (const auto& [kind, c] : kinds) {
      const auto& v = accepted ? c->accepted_by_pos : c->drafted_by_pos;
      if (i < v.size()) n += v[i];
    }
    return n;
  };
  const size_t n_pos = std::max(m.spec_text.drafted_by_pos.size(), m.spec_image.drafted_by_pos.size());
  header("spec_decode_num_drafts_total", "Verify rounds that had drafts.");
  out += fmt::format("specula:spec_decode_num_drafts_total {}\n", sum_at(false, 0));
  header("spec_decode_num_accepted_tokens_per_pos_total", "Accepted drafted tokens per draft position.");
  for (size_t i = 0; i < n_pos; ++i) {
    out += fmt::format("specula:spec_decode_num_accepted_tokens_per_pos_total{{position=\"{}\"}} {}\n", i + 1,
                       sum_at(true, i));
  }
  return out;
}

}  // namespace

std::string prometheus_metrics(const runtime::EngineMetrics& m, int n_ctx) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP specula:{} {}\n# TYPE specula:{} {}\nspecula:{} {}\n", name, help, name, type, name,
                       value);
  };
  metric("prompt_tokens_total", "counter", "Number of prompt tokens processed.", static_cast<double>(m.prompt_tokens));
  metric("prompt_seconds_total", "counter", "Prompt processing time.", m.prompt_seconds);
  metric("tokens_predicted_total", "counter", "Number of generated tokens.", static_cast<double>(m.generated_tokens));
  metric("tokens_predicted_seconds_total", "counter", "Generation time.", m.generate_seconds);
  metric("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
         m.prompt_seconds > 0 ? static_cast<double>(m.prompt_tokens) / m.prompt_seconds : 0.0);
  metric("predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
         m.generate_seconds > 0 ? static_cast<double>(m.generated_tokens) / m.generate_seconds : 0.0);
  metric("requests_total", "counter", "Finished requests.", static_cast<double>(m.requests_total));
  metric("requests_processing", "gauge", "Requests in a slot.", m.requests_processing);
  metric("requests_deferred", "gauge", "Requests waiting for a slot.", m.requests_deferred);
  metric("kv_cache_tokens", "gauge", "KV cache positions in use.", static_cast<double>(m.kv_used_cells));
  metric("kv_cache_usage_ratio", "gauge", "KV cache usage (1 = full).",
         m.kv_total_cells > 0 ? static_cast<double>(m.kv_used_cells) / static_cast<double>(m.kv_total_cells) : 0.0);
  metric("n_tokens_max", "gauge", "Context size per slot.", n_ctx);
  metric("spec_decode_num_draft_tokens_total", "counter", "Drafted tokens.", static_cast<double>(m.drafted));
  metric("spec_decode_num_accepted_tokens_total", "counter", "Accepted drafted tokens.",
         static_cast<double>(m.accepted));
  metric("image_requests_total", "counter", "Finished requests that had images.",
         static_cast<double>(m.image_requests));
  metric("images_encoded_total", "counter", "Images encoded by the vision model.",
         static_cast<double>(m.images_encoded));
  metric("image_encode_seconds_total", "counter", "Image decoding and encoding time.", m.image_encode_seconds);
  out += spec_metrics(m);
  return out;
}

}  // namespace specula::server
