// The HTTP front end of `specula serve` (cpp-httplib): llama-server's and OpenAI's endpoints over one Engine.
// Handlers parse and validate bodies into typed requests, submit them to the engine and stream results from the
// request's channel (SSE for stream: true). While the engine is loading, /health answers 503 and the other
// endpoints 503 "Loading model". Exceptions of the HTTP and JSON libraries are caught here and become
// OpenAI-shaped 500 errors; nothing a client sends can end the process.
#pragma once

#include <memory>
#include <optional>

#include "base/result.h"
#include "config/serve_config.h"
#include "runtime/engine.h"
#include "tokenizer/chat_template.h"

namespace specula::server {

class HttpServer {
 public:
  explicit HttpServer(config::ServeConfig config);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (errors: the address is taken or invalid). Call before serve().
  Status bind();
  // Serves until stop() (blocking). Run it on its own thread while the engine loads.
  void serve();
  // Blocks until serve() is accepting connections (stop() before that point would be lost).
  void wait_until_serving() const;
  void stop();
  // Makes the engine available (ends the loading state). `chat` = the model's renderable chat template, if any.
  void set_engine(std::shared_ptr<runtime::Engine> engine, std::optional<tokenizer::ChatTemplateVariant> chat);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace specula::server
