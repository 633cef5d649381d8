// specula kl -m M.gguf -f TEXT [-c N] -ctk T -ctv T: KV cache quality against an f16 cache (runtime/kl.h):
// both perplexities, the distribution of KL(f16 || test) over scored tokens, and top-1 agreement.
#include <cstdio>

#include "base/mapped_file.h"
#include "config/flags.h"
#include "kernels/ops.h"
#include "kv/cache_types.h"
#include "model/text/text_model.h"
#include "runtime/kl.h"
#include "subcommand.h"
#include "tokenizer/tokenizer.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser kl_flags() {
  config::FlagParser p("kl", "-m MODEL.gguf -f TEXT [-c N] -ctk TYPE -ctv TYPE");
  p.add({{"-m", "--model"}, config::FlagKind::kValue, "model GGUF file", "", "FILE"});
  p.add({{"-f", "--file"}, config::FlagKind::kValue, "text file", "", "FILE"});
  p.add({{"-c", "--ctx-size"}, config::FlagKind::kValue, "chunk size in tokens", "512"});
  p.add({{"--chunks"}, config::FlagKind::kValue, "score at most N chunks (-1 = all)", "-1"});
  p.add({{"-ub", "--ubatch-size"}, config::FlagKind::kValue, "prefill chunk size", "512"});
  p.add({{"-ctk", "--cache-type-k"}, config::FlagKind::kValue, kv::kCacheTypeHelp, "f16", "TYPE"});
  p.add({{"-ctv", "--cache-type-v"}, config::FlagKind::kValue, kv::kCacheTypeHelp, "f16", "TYPE"});
  p.add({{"--base-type-k"}, config::FlagKind::kValue, "K type of the baseline cache", "f16", "TYPE"});
  p.add({{"--base-type-v"}, config::FlagKind::kValue, "V type of the baseline cache", "f16", "TYPE"});
  p.add({{"--kv-recent"},
         config::FlagKind::kValue,
         "positions below each query read from f16 copies when a cache type is block-quantized (0 = off)",
         std::to_string(kv::kDefaultRecentWindow),
         "N"});
  p.add({{"--kv-sink"},
         config::FlagKind::kValue,
         "first positions of each sequence kept at f16 (with the recent window); block-quantized keys are centered "
         "on the mean of their keys 1..N-1 (0 = off: centered on the first key)",
         std::to_string(kv::kDefaultSinkPositions),
         "N"});
  add_activations_flag(p);
  p.add({{"--base-activations"}, config::FlagKind::kValue,
         "activations of the baseline pass (e.g. f32 for a float reference)", "as --activations", "MODE"});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  return p;
}

Result<runtime::KlOptions> kl_options(const config::FlagValues& f) {
  runtime::KlOptions o;
  SPECULA_TRY(const auto ctx, f.get_int("--ctx-size", 4, 1 << 20));
  SPECULA_TRY(const auto chunks, f.get_int("--chunks", -1, 1 << 30));
  SPECULA_TRY(const auto ub, f.get_int("--ubatch-size", 1, 1 << 20));
  o.n_ctx = static_cast<int>(ctx.value_or(512));
  o.max_chunks = static_cast<int>(chunks.value_or(-1));
  o.ubatch = static_cast<int>(ub.value_or(512));
  SPECULA_TRY(const auto recent, f.get_int("--kv-recent", 0, 1 << 20));
  o.recent = static_cast<int>(recent.value_or(kv::kDefaultRecentWindow));
  SPECULA_TRY(const auto sink, f.get_int("--kv-sink", 0, 1 << 20));
  o.sink = static_cast<int>(sink.value_or(kv::kDefaultSinkPositions));
  SPECULA_TRY(o.test, kv::parse_cache_types(f.get("--cache-type-k").value_or("f16"), f.get("--cache-type-v").value_or("f16")));
  auto base = kv::parse_cache_types(f.get("--base-type-k").value_or("f16"), f.get("--base-type-v").value_or("f16"));
  if (!base.ok()) return make_error(ErrorCode::kInvalidArgument, "--base-type-k/v: {}", base.error().message());
  o.base = base.value();
  SPECULA_TRY(o.test_activations, activations(f));
  o.base_activations = o.test_activations;
  if (f.get("--base-activations")) {
    SPECULA_TRY(o.base_activations, activations(f, "--base-activations"));
  }
  return o;
}

std::string pair_name(kv::CacheTypes t) { return std::string(kv::kv_type_name(t.k)) + "/" + kv::kv_type_name(t.v); }

void print_result(const runtime::KlResult& r, const runtime::KlOptions& o) {
  std::printf("\nchunks: %d of %d tokens, %d tokens scored\n", r.test.n_chunks, o.n_ctx, r.test.n_scored);
  std::printf("KV cache (K/V)     %-15s %-15s\n", pair_name(o.base).c_str(), pair_name(o.test).c_str());
  std::printf("cache MiB          %-15.3f %-15.3f\n", static_cast<double>(r.cache_bytes_base) / (1 << 20),
              static_cast<double>(r.cache_bytes_test) / (1 << 20));
  std::printf("PPL                %-15.4f %-15.4f\n", r.base.ppl(), r.test.ppl());
  std::printf("PPL +/-            %-15.5f %-15.5f\n", r.base.ppl_error(), r.test.ppl_error());
  std::printf("Mean KLD:   %.6f +/- %.6f\n", r.mean_kl(), r.mean_kl_error());
  std::printf("Median KLD: %.6f\n", r.quantile_kl(0.5));
  std::printf("99.0%% KLD:  %.6f\n", r.quantile_kl(0.99));
  std::printf("Max KLD:    %.6f\n", r.quantile_kl(1.0));
  std::printf("Same top-1: %.3f%%\n", 100.0 * r.top1_agreement());
}

}  // namespace

int cmd_kl(const Args& args) {
  auto parser = kl_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("kl", flags.error().message());
  const auto model_path = flags->get("--model");
  const auto text_path = flags->get("--file");
  if (!model_path || !text_path) return fail("kl", "-m and -f are required");
  auto options = kl_options(flags.value());
  if (!options.ok()) return fail("kl", options.error().message());
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("kl", threads.error().message());
  auto text = read_file(*text_path);
  if (!text.ok()) return fail("kl", text.error().message());
  auto model = model::TextModel::load(*model_path);
  if (!model.ok()) return fail("kl", model.error().message());
  auto tok = tokenizer::Tokenizer::from_gguf(model.value()->file());
  if (!tok.ok()) return fail("kl", tok.error().message());
  const auto bos = tok->vocab().bos_id();
  if (!bos) return fail("kl", "the vocabulary has no BOS token");
  auto tokens = tok->tokenize(text.value(), {.add_special = false, .parse_special = false});
  if (!tokens.ok()) return fail("kl", tokens.error().message());
  tokens->insert(tokens->begin(), *bos);
  ThreadPool pool(threads.value());
  std::fprintf(stderr, "kl: %zu tokens, n_ctx=%d, baseline %s (%s activations), test %s (%s activations)\n",
               tokens->size(), options->n_ctx, pair_name(options->base).c_str(),
               kernels::cpu::act_precision_name(options->base_activations), pair_name(options->test).c_str(),
               kernels::cpu::act_precision_name(options->test_activations));
  auto r = runtime::kl_divergence(pool, *model.value(), tokens.value(), *bos, options.value(), [&](int c, double ppl) {
    std::fprintf(stderr, "[%d]%.4f,", c + 1, ppl);
    std::fflush(stderr);
  });
  if (!r.ok()) return fail("kl", r.error().message());
  print_result(r.value(), options.value());
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(kl, 75, "KV cache quality: perplexity and KL divergence of a cache type against f16",
                   specula::tools::cmd_kl);
