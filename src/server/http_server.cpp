#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "server/api_error.h"
#include "server/http_handlers.h"

namespace specula::server {

HttpServer::HttpServer(config::ServeConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  install_routes(*impl_);
}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::bind() {
  if (!impl_->http.bind_to_port(impl_->config.host, impl_->config.port)) {
    return make_error(ErrorCode::kIo, "cannot listen on {}:{} (address in use or not available)", impl_->config.host,
                      impl_->config.port);
  }
  return ok_status();
}

void HttpServer::serve() { impl_->http.listen_after_bind(); }

void HttpServer::wait_until_serving() const {
  while (!impl_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HttpServer::stop() {
  if (impl_->http.is_running()) impl_->http.stop();
}

void HttpServer::set_engine(std::shared_ptr<runtime::Engine> engine,
                            std::optional<tokenizer::ChatTemplateVariant> chat) {
  std::lock_guard lock(impl_->mu);
  impl_->chat = chat;
  impl_->engine = std::move(engine);
}

}  // namespace specula::server
