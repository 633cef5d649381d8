// The generation endpoints: parse -> submit to the engine -> collect (non-stream) or stream SSE events.
#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "server/connection.h"
#include "server/http_handlers.h"
#include "server/logprobs_json.h"
#include "server/responses.h"

namespace specula::server {
namespace {

using json = nlohmann::json;
using runtime::RequestEvent;

struct Pending {
  std::shared_ptr<runtime::RequestChannel> channel;
  ResponseMeta meta;
  CompletionRequest request;
  tokenizer::Tokenizer tok;                        // renders the logprobs' token texts (a shared handle)
  std::vector<runtime::TokenLogprobs> logprobs;    // streaming: those of tokens not yet sent in a chunk
  size_t char_offset = 0;                          // streaming /v1/completions: characters sent so far
};

// The logprobs value of a response (null when the request asked for none).
json logprobs_value(const Pending& p, std::span<const runtime::TokenLogprobs> tokens, size_t* char_offset) {
  if (p.request.n_probs < 0) return nullptr;
  return logprobs_json(p.request.api, tokens, p.tok, char_offset);
}

ApiError context_error(size_t n_prompt, int n_ctx) {
  ApiError e = api_error(400, "exceed_context_size_error",
                         fmt::format("the request exceeds the available context size: {} prompt tokens, context {} "
                                     "tokens", n_prompt, n_ctx));
  e.extra = {{"n_prompt_tokens", n_prompt}, {"n_ctx", n_ctx}};
  return e;
}

// Encodes the request's images (on this HTTP thread, through Engine::encode_image) and binds them to the prompt's
// placeholders. Stops at the first image that would overflow the context, so a body with many images costs at most
// a context's worth of encoding. On failure fills `res`.
bool attach_request_images(runtime::Engine& engine, CompletionRequest& r, runtime::GenRequest& g,
                           httplib::Response& res) {
  const int n_ctx = engine.options().n_ctx;
  std::vector<runtime::ImageEmbedding> embeddings;
  size_t n_prompt = r.prompt.size();
  for (size_t i = 0; i < r.images.size(); ++i) {
    auto e = engine.encode_image(r.images[i], fmt::format("image {}", i + 1));
    if (!e.ok()) {
      send_error(res, api_error(e.error()));
      return false;
    }
    n_prompt += static_cast<size_t>(e.value().n_tokens) + 1;  // the placeholder becomes <|image>, N soft, <image|>
    if (n_prompt >= static_cast<size_t>(n_ctx)) {
      send_error(res, context_error(n_prompt, n_ctx));
      return false;
    }
    embeddings.push_back(std::move(e.value()));
    std::vector<uint8_t>().swap(r.images[i]);  // the bytes are no longer needed: free them
  }
  if (Status st = runtime::attach_images(g, engine.image_token_ids(), std::move(embeddings)); !st.ok()) {
    send_error(res, api_error(st.error()));
    return false;
  }
  return true;
}

// Validates and submits; on failure fills `res` with the error and returns nullopt.
std::optional<Pending> submit(HttpServer::Impl& impl, runtime::Engine& engine, Api api, const httplib::Request& req,
                              httplib::Response& res) {
  ParseContext ctx{&engine.tokenizer(), impl.chat, &impl.config, engine.vision()};
  auto parsed = parse_completion(api, req.body, ctx);
  if (!parsed.ok()) {
    send_error(res, api_error(parsed.error()));
    return std::nullopt;
  }
  CompletionRequest& r = parsed.value();
  const int n_ctx = engine.options().n_ctx;
  if (static_cast<int>(r.prompt.size()) >= n_ctx) {
    send_error(res, context_error(r.prompt.size(), n_ctx));
    return std::nullopt;
  }
  auto sampler = runtime::SamplerConfig::create(r.sampling, engine.model().vocab());
  if (!sampler.ok()) {
    send_error(res, api_error(sampler.error()));
    return std::nullopt;
  }
  auto stop = runtime::StopConfig::create(r.stop);
  if (!stop.ok()) {
    send_error(res, api_error(stop.error()));
    return std::nullopt;
  }
  auto channel = std::make_shared<runtime::RequestChannel>();
  runtime::GenRequest g{r.prompt, std::move(sampler.value()), std::move(stop.value()), r.id_slot, r.cache_prompt,
                        false, channel, {}, {}, {}, r.n_probs};
  if (!r.images.empty() && !attach_request_images(engine, r, g, res)) return std::nullopt;
  if (Status st = engine.submit(std::move(g)); !st.ok()) {
    send_error(res, api_error(st.error()));
    return std::nullopt;
  }
  const uint64_t n = impl.next_id.fetch_add(1);
  ResponseMeta meta{fmt::format("{}-{:016x}", api == Api::kChat ? "chatcmpl" : "cmpl", n), impl.config.alias,
                    static_cast<int64_t>(std::time(nullptr))};
  return Pending{channel, meta, std::move(r), engine.tokenizer(), {}, 0};
}

// Waits for the whole result. The engine always ends a request (a token limit, a stop, the context end or an error),
// so there is no overall deadline: --timeout bounds socket reads and writes, not generation time. A client that
// disconnects meanwhile cancels the request (checked every 100 ms on its socket, see connection.h): its slot is
// freed at the engine's next step instead of generating for nobody.
void collect(Pending& p, const httplib::Request& req, httplib::Response& res) {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<runtime::TokenLogprobs> logprobs;
  const int fd = find_connection_socket(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  auto next_check = std::chrono::steady_clock::now();
  for (;;) {
    if (fd >= 0 && std::chrono::steady_clock::now() >= next_check) {
      next_check += std::chrono::milliseconds(100);
      if (peer_closed(fd)) {
        p.channel->cancel();
        send_error(res, api_error(499, "cancelled", "the client closed the connection"));
        return;
      }
    }
    auto e = p.channel->pop(std::chrono::milliseconds(100));
    if (!e) continue;
    if (e->kind == RequestEvent::Kind::kText) {
      text += e->text;
      tokens.insert(tokens.end(), e->tokens.begin(), e->tokens.end());
      logprobs.insert(logprobs.end(), std::make_move_iterator(e->logprobs.begin()),
                      std::make_move_iterator(e->logprobs.end()));
    } else if (e->kind == RequestEvent::Kind::kError) {
      send_error(res, api_error(*e->error));
      return;
    } else {
      size_t char_offset = 0;
      res.set_content(dump(final_response(p.request.api, p.meta, text, tokens, e->finish, e->usage,
                                          e->usage.stopped_by_word, logprobs_value(p, logprobs, &char_offset))),
                      "application/json");
      return;
    }
  }
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

// Streams SSE events; a failed write (client gone) cancels the request, which frees its slot at the next step.
void stream(Pending p, httplib::Response& res) {
  auto state = std::make_shared<Pending>(std::move(p));
  auto first = std::make_shared<bool>(true);
  auto finished = std::make_shared<bool>(false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [state, first, finished](size_t, httplib::DataSink& sink) {
        Pending& s = *state;
        const Api api = s.request.api;
        if (*finished) return false;
        for (;;) {
          if (!sink.is_writable()) {
            s.channel->cancel();
            return false;
          }
          auto e = s.channel->pop(std::chrono::milliseconds(100));
          if (!e) continue;
          std::string out;
          // The logprobs of tokens whose text is held back (an incomplete character, a possible stop string) wait
          // for the next chunk that carries text, or for the end.
          auto text_chunk = [&](const std::string& text) {
            const json lp = logprobs_value(s, s.logprobs, &s.char_offset);
            s.logprobs.clear();
            out += sse(stream_chunk(api, s.meta, text, std::nullopt, *first, nullptr, lp));
            *first = false;
          };
          if (e->kind == RequestEvent::Kind::kText) {
            s.logprobs.insert(s.logprobs.end(), std::make_move_iterator(e->logprobs.begin()),
                              std::make_move_iterator(e->logprobs.end()));
            if (e->text.empty() && !*first) continue;
            text_chunk(e->text);
          } else if (e->kind == RequestEvent::Kind::kError) {
            out = sse(json::parse(api_error(*e->error).body()));
            *finished = true;
          } else {
            if (!s.logprobs.empty() || (*first && api == Api::kChat)) text_chunk("");
            out += sse(stream_chunk(api, s.meta, "", e->finish, false, &e->usage));
            if (s.request.include_usage && api != Api::kLlamaCompletion) {
              out += sse(usage_chunk(api, s.meta, e->usage));
            }
            if (api != Api::kLlamaCompletion) out += "data: [DONE]\n\n";
            *finished = true;
          }
          if (!sink.write(out.data(), out.size())) {
            s.channel->cancel();
            return false;
          }
          if (*finished) sink.done();
          return true;
        }
      },
      [state](bool success) {
        if (!success) state->channel->cancel();
      });
}

}  // namespace

void handle_generation(HttpServer::Impl& impl, Api api, const httplib::Request& req, httplib::Response& res) {
  auto engine = impl.ready();
  if (!engine) {
    send_error(res, api_error(503, "unavailable_error", "Loading model"));
    return;
  }
  auto pending = submit(impl, *engine, api, req, res);
  if (!pending) return;
  if (pending->request.stream) {
    stream(std::move(*pending), res);
  } else {
    collect(*pending, req, res);
  }
}

}  // namespace specula::server
