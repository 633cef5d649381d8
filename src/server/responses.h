// Response bodies: OpenAI chat/completions objects and stream chunks, llama-server's /completion object, `usage`
// and `timings`, the Prometheus text of /metrics. Pure functions of their inputs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.h"
#include "runtime/request.h"
#include "server/completion_request.h"

namespace specula::server {

struct ResponseMeta {
  std::string id;      // "chatcmpl-..." / "cmpl-..."
  std::string model;   // the alias
  int64_t created = 0; // unix seconds
};

nlohmann::json usage_json(const runtime::RequestUsage& u);
nlohmann::json timings_json(const runtime::RequestUsage& u);

// `logprobs` of the responses below: null when the request asked for none; else the API's logprobs value
// (logprobs_json.h): chat {"content": [...]}, /v1/completions' object, /completion's completion_probabilities array.

// The whole (non-stream) response of an endpoint.
nlohmann::json final_response(Api api, const ResponseMeta& meta, const std::string& text,
                              const std::vector<int32_t>& tokens, runtime::FinishReason finish,
                              const runtime::RequestUsage& usage, bool stopped_by_word,
                              const nlohmann::json& logprobs = nullptr);

// One stream chunk carrying text (finish == nullopt) or the final chunk (finish set, text empty); `logprobs` are
// those of the tokens of this chunk.
nlohmann::json stream_chunk(Api api, const ResponseMeta& meta, const std::string& text,
                            std::optional<runtime::FinishReason> finish, bool first,
                            const runtime::RequestUsage* usage, const nlohmann::json& logprobs = nullptr);
// The usage-only chunk of stream_options.include_usage (OpenAI: empty choices).
nlohmann::json usage_chunk(Api api, const ResponseMeta& meta, const runtime::RequestUsage& usage);

std::string prometheus_metrics(const runtime::EngineMetrics& m, int n_ctx);

// JSON text that never throws on invalid UTF-8 (replaced by U+FFFD).
std::string dump(const nlohmann::json& j);

}  // namespace specula::server
