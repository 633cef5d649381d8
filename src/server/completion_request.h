// JSON bodies of POST /v1/chat/completions, /v1/completions and /completion -> one typed CompletionRequest.
// Every field is checked for its type and range; fields outside the endpoint's allow-list are errors naming the
// field (an explicit list of OpenAI fields is accepted and ignored). The prompt is rendered (chat) and tokenized
// here. Exceptions of the JSON library never leave this file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "config/serve_config.h"
#include "runtime/sampler_config.h"
#include "runtime/sampler_logprobs.h"
#include "runtime/stop_config.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace specula::server {

enum class Api { kChat, kCompletions, kLlamaCompletion };

struct CompletionRequest {
  Api api = Api::kChat;
  std::vector<int32_t> prompt;
  runtime::SamplerParams sampling;
  runtime::StopParams stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int id_slot = -1;
  bool cache_prompt = true;
  int n_probs = -1;  // >= 0: logprobs of each generated token with this many top entries (runtime::GenRequest)
  // The bytes of the request's images in prompt order (not decoded yet); `prompt` holds one <|image|>
  // placeholder per image where it goes.
  std::vector<std::vector<uint8_t>> images;
};

struct ParseContext {
  const tokenizer::Tokenizer* tok = nullptr;
  std::optional<tokenizer::ChatTemplateVariant> chat;  // nullopt: the model has no renderable template
  const config::ServeConfig* config = nullptr;
  bool vision = false;  // the server has an mmproj: image parts are accepted
};

// Parses a request body (text). Errors are kInvalidArgument (400) naming the field, kUnsupported for features
// specula does not implement (tools, n > 1, post_sampling_probs, images without --mmproj).
Result<CompletionRequest> parse_completion(Api api, const std::string& body, const ParseContext& ctx);

// Renders chat messages (the "messages" field) to prompt text, for /apply-template and chat completions. Image
// parts render as the template's placeholder; with `images`, their bytes are decoded and appended in order (and
// image parts are refused unless ctx.vision); without, the payloads are not read.
Result<std::string> render_messages(const nlohmann::json& messages, const ParseContext& ctx, bool enable_thinking,
                                    std::vector<std::vector<uint8_t>>* images = nullptr);

// Parses text as JSON; kInvalidArgument with the parser's message on failure, or when it is not an object.
Result<nlohmann::json> parse_json_object(const std::string& body);

}  // namespace specula::server
