// Internal to the server layer: HttpServer::Impl (the httplib server, the engine once loaded) and the route table.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/serve_config.h"
#include "runtime/engine.h"
#include "server/api_error.h"
#include "server/completion_request.h"
#include "server/http_server.h"

namespace specula::server {

struct HttpServer::Impl {
  explicit Impl(config::ServeConfig c) : config(std::move(c)) {}

  config::ServeConfig config;
  httplib::Server http;
  std::mutex mu;  // guards engine and chat (set once by set_engine)
  std::shared_ptr<runtime::Engine> engine;
  std::optional<tokenizer::ChatTemplateVariant> chat;
  std::atomic<uint64_t> next_id{1};

  // The engine, or nullptr while loading (the caller answers 503).
  std::shared_ptr<runtime::Engine> ready() {
    std::lock_guard lock(mu);
    return engine;
  }
};

void install_routes(HttpServer::Impl& impl);

// Sends an OpenAI-shaped error.
void send_error(httplib::Response& res, const ApiError& error);

// POST /v1/chat/completions, /v1/completions, /completion.
void handle_generation(HttpServer::Impl& impl, Api api, const httplib::Request& req, httplib::Response& res);

}  // namespace specula::server
