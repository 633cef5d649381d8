// Route table and the endpoints that do not generate: health, models, props, slots, metrics, tokenize,
// detokenize, apply-template; authentication, body limits, and error rendering for everything.
#include "server/http_handlers.h"

#include <filesystem>

#include "base/log.h"
#include "server/responses.h"

namespace specula::server {
namespace {

using json = nlohmann::json;
using Handler = std::function<void(HttpServer::Impl&, const httplib::Request&, httplib::Response&)>;

void send_json(httplib::Response& res, const json& j) { res.set_content(dump(j), "application/json"); }

// Runs a handler; any exception of the HTTP/JSON libraries becomes a 500 with an OpenAI-shaped body.
httplib::Server::Handler guarded(HttpServer::Impl& impl, Handler h) {
  return [&impl, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
    try {
      h(impl, req, res);
    } catch (const std::exception& e) {
      send_error(res, api_error(500, "server_error", std::string("internal error: ") + e.what()));
    }
  };
}

// Handlers that need the loaded engine.
Handler with_engine(std::function<void(HttpServer::Impl&, runtime::Engine&, const httplib::Request&,
                                       httplib::Response&)> h) {
  return [h = std::move(h)](HttpServer::Impl& impl, const httplib::Request& req, httplib::Response& res) {
    auto engine = impl.ready();
    if (!engine) return send_error(res, api_error(503, "unavailable_error", "Loading model"));
    h(impl, *engine, req, res);
  };
}

Result<json> body_object(const httplib::Request& req) { return parse_json_object(req.body); }

void models(HttpServer::Impl& impl, runtime::Engine& e, const httplib::Request&, httplib::Response& res) {
  const auto& cfg = e.model().config();
  json meta = {{"n_vocab", e.model().vocab()}, {"n_ctx", e.options().n_ctx}, {"n_embd", cfg.hidden}};
  json inputs = e.vision() ? json::array({"text", "image"}) : json::array({"text"});
  json model = {{"id", impl.config.alias}, {"object", "model"}, {"created", 0}, {"owned_by", "specula"},
                {"meta", meta},
                {"architecture", {{"input_modalities", inputs}, {"output_modalities", json::array({"text"})}}}};
  send_json(res, {{"object", "list"}, {"data", json::array({model})}});
}

void props(HttpServer::Impl& impl, runtime::Engine& e, const httplib::Request&, httplib::Response& res) {
  const auto& s = impl.config.sampling;
  json settings = {{"n_ctx", e.options().n_ctx}, {"n_predict", impl.config.n_predict}, {"temperature", s.temperature},
                   {"top_k", s.top_k}, {"top_p", s.top_p}, {"min_p", s.min_p},
                   {"repeat_penalty", s.repeat_penalty}, {"repeat_last_n", s.repeat_last_n}};
  send_json(res, {{"default_generation_settings", settings},
                  {"total_slots", e.options().n_parallel},
                  {"model_path", impl.config.model_path},
                  {"model_alias", impl.config.alias},
                  {"chat_template", impl.chat ? tokenizer::chat_template_variant_name(*impl.chat) : ""},
                  {"modalities", {{"vision", e.vision()}, {"audio", false}}},
                  {"media_marker", "<__media__>"},
                  {"speculative", config::describe(impl.config.spec)},
                  {"build_info", "specula"}});
}

void slots(HttpServer::Impl& impl, runtime::Engine& e, const httplib::Request& req, httplib::Response& res) {
  if (!impl.config.slots_endpoint) {
    return send_error(res, api_error(501, "not_supported_error", "This server does not support slots endpoint."));
  }
  json out = json::array();
  bool any_free = false;
  for (const auto& s : e.slots()) {
    any_free |= !s.processing;
    out.push_back({{"id", s.id}, {"is_processing", s.processing}, {"n_ctx", e.options().n_ctx}, {"n_past", s.n_past},
                   {"n_prompt_tokens", s.n_prompt}, {"n_decoded", s.n_generated}});
  }
  if (req.has_param("fail_on_no_slot") && !any_free) {
    return send_error(res, api_error(503, "unavailable_error", "no slot available"));
  }
  send_json(res, out);
}

void metrics(HttpServer::Impl& impl, runtime::Engine& e, const httplib::Request&, httplib::Response& res) {
  if (!impl.config.metrics) {
    return send_error(res, api_error(501, "not_supported_error",
                                     "This server does not support metrics endpoint (start it with --metrics)."));
  }
  res.set_content(prometheus_metrics(e.metrics(), e.options().n_ctx), "text/plain; version=0.0.4");
}

void tokenize(HttpServer::Impl&, runtime::Engine& e, const httplib::Request& req, httplib::Response& res) {
  auto b = body_object(req);
  if (!b.ok()) return send_error(res, api_error(b.error()));
  const json& j = b.value();
  if (!j.contains("content") || !j["content"].is_string()) {
    return send_error(res, api_error(400, "invalid_request_error", "'content' must be a string"));
  }
  for (const char* k : {"add_special", "parse_special", "with_pieces"}) {
    if (j.contains(k) && !j[k].is_boolean()) {
      return send_error(res, api_error(400, "invalid_request_error", fmt::format("'{}' must be a boolean", k)));
    }
  }
  const bool add_special = j.value("add_special", false), parse_special = j.value("parse_special", true);
  auto ids = e.tokenizer().tokenize(j["content"].get<std::string>(), {add_special, parse_special});
  if (!ids.ok()) return send_error(res, api_error(ids.error()));
  if (!j.value("with_pieces", false)) return send_json(res, {{"tokens", ids.value()}});
  json pieces = json::array();
  for (const int32_t id : ids.value()) {
    auto piece = e.tokenizer().token_to_piece(id, true);
    pieces.push_back({{"id", id}, {"piece", piece.ok() ? piece.value() : std::string()}});
  }
  send_json(res, {{"tokens", pieces}});
}

void detokenize(HttpServer::Impl&, runtime::Engine& e, const httplib::Request& req, httplib::Response& res) {
  auto b = body_object(req);
  if (!b.ok()) return send_error(res, api_error(b.error()));
  const json& j = b.value();
  if (!j.contains("tokens") || !j["tokens"].is_array()) {
    return send_error(res, api_error(400, "invalid_request_error", "'tokens' must be an array of token ids"));
  }
  std::vector<int32_t> ids;
  for (const auto& t : j["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= e.tokenizer().n_vocab()) {
      return send_error(res, api_error(400, "invalid_request_error",
                                       fmt::format("'tokens' items must be ids in [0, {})", e.tokenizer().n_vocab())));
    }
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  auto text = e.tokenizer().detokenize(ids, {.render_special = false, .strip_leading_space = false});
  if (!text.ok()) return send_error(res, api_error(text.error()));
  send_json(res, {{"content", text.value()}});
}

void apply_template(HttpServer::Impl& impl, runtime::Engine& e, const httplib::Request& req, httplib::Response& res) {
  auto b = body_object(req);
  if (!b.ok()) return send_error(res, api_error(b.error()));
  if (!b.value().contains("messages")) return send_error(res, api_error(400, "invalid_request_error", "'messages' is required"));
  ParseContext ctx{&e.tokenizer(), impl.chat, &impl.config, e.vision()};
  auto text = render_messages(b.value()["messages"], ctx, false);
  if (!text.ok()) return send_error(res, api_error(text.error()));
  send_json(res, {{"prompt", text.value()}});
}

// Bearer-key check for everything but /health.
httplib::Server::HandlerResponse authorize(HttpServer::Impl& impl, const httplib::Request& req,
                                           httplib::Response& res) {
  if (impl.config.api_keys.empty() || req.path == "/health" || req.path == "/v1/health") {
    return httplib::Server::HandlerResponse::Unhandled;
  }
  std::string key = req.get_header_value("Authorization");
  if (key.rfind("Bearer ", 0) == 0) key = key.substr(7);
  if (key.empty()) key = req.get_header_value("X-Api-Key");
  for (const auto& k : impl.config.api_keys) {
    if (k == key) return httplib::Server::HandlerResponse::Unhandled;
  }
  send_error(res, api_error(401, "authentication_error", "Invalid API Key"));
  return httplib::Server::HandlerResponse::Handled;
}

}  // namespace

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  res.set_content(error.body(), "application/json");
}

void install_routes(HttpServer::Impl& impl) {
  auto& h = impl.http;
  h.set_payload_max_length(impl.config.max_body_bytes);
  // SO_REUSEADDR only: the library default also sets SO_REUSEPORT, which lets a second server bind the same port
  // silently instead of failing.
  h.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  h.set_read_timeout(impl.config.timeout_s, 0);
  h.set_write_timeout(impl.config.timeout_s, 0);
  const size_t n_threads = static_cast<size_t>(impl.config.threads_http);
  h.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
  h.set_pre_routing_handler([&impl](const httplib::Request& req, httplib::Response& res) {
    return authorize(impl, req, res);
  });
  // Errors httplib produces itself (404, 413, 400 on bad framing) get an OpenAI-shaped body.
  h.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* type = res.status == 404 ? "not_found_error" : res.status == 413 ? "invalid_request_error"
                                                                                 : "server_error";
    const char* msg = res.status == 404 ? "File Not Found" : res.status == 413 ? "the request body is too large"
                                                                               : "request failed";
    send_error(res, api_error(res.status, type, msg));
  });
  h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, api_error(500, "server_error", "internal error"));
  });
  auto health = guarded(impl, [](HttpServer::Impl& i, const httplib::Request&, httplib::Response& res) {
    if (!i.ready()) return send_error(res, api_error(503, "unavailable_error", "Loading model"));
    send_json(res, {{"status", "ok"}});
  });
  h.Get("/health", health);
  h.Get("/v1/health", health);
  h.Get("/v1/models", guarded(impl, with_engine(models)));
  h.Get("/models", guarded(impl, with_engine(models)));
  h.Get("/props", guarded(impl, with_engine(props)));
  h.Get("/slots", guarded(impl, with_engine(slots)));
  h.Get("/metrics", guarded(impl, with_engine(metrics)));
  h.Post("/tokenize", guarded(impl, with_engine(tokenize)));
  h.Post("/detokenize", guarded(impl, with_engine(detokenize)));
  h.Post("/apply-template", guarded(impl, with_engine(apply_template)));
  auto gen = [&impl](Api api) {
    return guarded(impl, [api](HttpServer::Impl& i, const httplib::Request& req, httplib::Response& res) {
      handle_generation(i, api, req, res);
    });
  };
  h.Post("/v1/chat/completions", gen(Api::kChat));
  h.Post("/chat/completions", gen(Api::kChat));
  h.Post("/v1/completions", gen(Api::kCompletions));
  h.Post("/completions", gen(Api::kCompletions));
  h.Post("/completion", gen(Api::kLlamaCompletion));
}

}  // namespace specula::server
