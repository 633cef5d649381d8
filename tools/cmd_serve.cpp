// specula serve: the OpenAI-compatible HTTP server (llama-server's command line).
#include <csignal>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/log.h"
#include "config/serve_config.h"
#include "kernels/ops.h"
#include "kv/cache_types.h"
#include "runtime/engine.h"
#include "server/http_server.h"
#include "subcommand.h"
#include "tokenizer/chat_template.h"

namespace specula::tools {
namespace {

std::optional<tokenizer::ChatTemplateVariant> chat_variant(const format::GgufFile& file) {
  auto v = tokenizer::chat_template_of(file);
  if (v.ok()) return v.value();
  return std::nullopt;
}

// --chat-template-file: the renderer variant its text is (checked before the model loads); nullopt without the flag.
Result<std::optional<tokenizer::ChatTemplateVariant>> chat_variant_of_file(const config::ServeConfig& c) {
  if (c.chat_template_file.empty()) return std::optional<tokenizer::ChatTemplateVariant>();
  auto v = tokenizer::classify_chat_template(c.chat_template_text);
  if (!v.ok()) return v.error().with_context("--chat-template-file " + c.chat_template_file);
  return std::optional<tokenizer::ChatTemplateVariant>(v.value());
}

// Validated engine options from the config (cache type names are checked here, before anything loads).
Result<runtime::EngineOptions> engine_options(const config::ServeConfig& c) {
  runtime::EngineOptions o;
  o.model_path = c.model_path;
  o.n_ctx = c.n_ctx;
  o.n_parallel = c.n_parallel;
  o.threads = c.threads;
  o.ubatch = c.ubatch;
  o.queue_max = c.queue_max;
  o.spec = c.spec;
  o.vision = c.vision;
  SPECULA_TRY(o.cache_types, kv::parse_cache_types(c.cache_type_k, c.cache_type_v));
  auto draft = kv::parse_cache_types(c.cache_type_k_draft, c.cache_type_v_draft);
  if (!draft.ok()) return draft.error().with_context("-ctkd/-ctvd");
  if (!kernels::cpu::parse_act_precision(c.activations)) {
    return make_error(ErrorCode::kInvalidArgument, "--activations must be int8, int8x2 or f32, got '{}'", c.activations);
  }
  return o;
}

int serve(const config::ServeConfig& cfg, const runtime::EngineOptions& options,
          std::optional<tokenizer::ChatTemplateVariant> chat_override) {
#ifdef __GLIBC__
  // glibc gives threads that allocate concurrently their own malloc arenas (up to 8 per core) and keeps an arena's
  // memory once touched: every HTTP worker that ever held a large request body or decoded image would keep its
  // peak. Two arenas let freed memory be reused across threads and returned by malloc_trim (measured with bursts
  // of 8 concurrent two-image requests: RSS back to within 3 MiB of the first request's, instead of +20-90 MiB).
  mallopt(M_ARENA_MAX, 2);
#endif
  // SIGINT/SIGTERM are taken by sigwait below; threads created from here on inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  server::HttpServer http(cfg);
  if (Status st = http.bind(); !st.ok()) return fail("serve", st.error().message());
  std::thread http_thread([&] { http.serve(); });
  http.wait_until_serving();
  log::info("listening on http://{}:{} (loading the model)", cfg.host, cfg.port);
  kernels::cpu::set_act_precision(*kernels::cpu::parse_act_precision(cfg.activations));
  auto engine = runtime::Engine::create(options);
  if (!engine.ok()) {
    http.stop();
    http_thread.join();
    return fail("serve", engine.error().message());
  }
  std::shared_ptr<runtime::Engine> e = std::move(engine.value());
  const auto chat = chat_override ? chat_override : chat_variant(e->model().file());
  for (const auto& line : e->describe()) log::info("{}", line);
  log::info("chat template: {}{}", chat ? tokenizer::chat_template_variant_name(*chat) : "none (chat endpoints refuse)",
            chat_override ? " (from --chat-template-file " + cfg.chat_template_file + ")" : std::string());
  e->start();
  http.set_engine(e, chat);
  log::info("ready");
  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal {}: shutting down", sig);
  http.stop();
  e->stop();  // in-flight requests end with an error event; the engine thread is joined
  // HTTP workers may sit in a keep-alive wait for seconds; nothing they hold needs flushing, so exit now instead of
  // joining them (the OS closes their sockets).
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(0);
}

}  // namespace

int cmd_serve(const Args& args) {
  const auto parser = config::serve_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  for (const auto& a : args) {
    if (auto why = config::unsupported_serve_flag(a)) return fail("serve", *why);
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("serve", flags.error().message());
  auto cfg = config::make_serve_config(flags.value());
  if (!cfg.ok()) return fail("serve", cfg.error().message());
  auto options = engine_options(cfg.value());
  if (!options.ok()) return fail("serve", options.error().message());
  auto chat = chat_variant_of_file(cfg.value());
  if (!chat.ok()) return fail("serve", chat.error().message());
  log::set_options({log::Level::kInfo, cfg->log_json ? log::Format::kJson : log::Format::kText});
  for (const auto& line : cfg->describe()) log::info("{}", line);
  return serve(cfg.value(), options.value(), chat.value());
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(serve, 5, "OpenAI-compatible HTTP server (llama-server's flags)", specula::tools::cmd_serve);
