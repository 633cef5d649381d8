// specula bench -m M.gguf [-p 512] [-n 128] [-ub 512] [-t N] [--bandwidth GBPS]
// Prompt-processing and generation speed, bytes of weights read per generated token, and the achieved
// bandwidth as a percentage of the machine's measured read bandwidth (the decode roofline).
#include <cstdio>
#include <random>

#include "bandwidth.h"
#include "base/timer.h"
#include "config/flags.h"
#include "kv/cache_types.h"
#include "model/text/text_model.h"
#include "subcommand.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser bench_flags() {
  config::FlagParser p("bench", "-m MODEL.gguf [options]");
  p.add({{"-m", "--model"}, config::FlagKind::kValue, "model GGUF file", "", "FILE"});
  p.add({{"-p", "--n-prompt"}, config::FlagKind::kValue, "prompt tokens to process", "512"});
  p.add({{"-n", "--n-gen"}, config::FlagKind::kValue, "tokens to generate", "128"});
  p.add({{"-ub", "--ubatch-size"}, config::FlagKind::kValue, "prefill chunk size", "512"});
  p.add({{"-ctk", "--cache-type-k"}, config::FlagKind::kValue, kv::kCacheTypeHelp, kv::kCacheTypeDefault, "TYPE"});
  p.add({{"-ctv", "--cache-type-v"}, config::FlagKind::kValue, kv::kCacheTypeHelp, kv::kCacheTypeDefault, "TYPE"});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  p.add({{"--bandwidth"}, config::FlagKind::kValue, "machine read bandwidth in GB/s (default: measured)", "", "GBPS"});
  return p;
}

struct BenchResult {
  double pp_tps = 0;
  double tg_tps = 0;
  size_t kv_bytes = 0;
};

Result<BenchResult> run_bench(ThreadPool& pool, model::TextModel& m, int n_prompt, int n_gen, int ubatch,
                              kv::CacheTypes types) {
  kv::KvPoolOptions kv_options;
  kv_options.type_k = types.k;
  kv_options.type_v = types.v;
  kv_options.n_ctx = n_prompt + n_gen + 1;
  kv_options.max_batch = ubatch;
  SPECULA_TRY(auto cache_ptr, m.make_kv_cache(kv_options));
  kv::KvCache& cache = *cache_ptr;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> dist(0, m.vocab() - 1);
  std::vector<float> logits(static_cast<size_t>(m.vocab()));
  BenchResult r;
  r.kv_bytes = cache.bytes();
  Timer t;
  for (int begin = 0; begin < n_prompt; begin += ubatch) {
    const int end = std::min(n_prompt, begin + ubatch);
    std::vector<model::ForwardRow> rows;
    for (int i = begin; i < end; ++i) rows.push_back({dist(rng), i, 0, nullptr});
    const std::vector<int32_t> last = {static_cast<int32_t>(rows.size() - 1)};
    SPECULA_RETURN_IF_ERROR(m.forward(pool, cache, rows, {last, logits.data(), nullptr}));
  }
  if (n_prompt > 0) r.pp_tps = n_prompt / t.elapsed_s();
  t.reset();
  for (int i = 0; i < n_gen; ++i) {
    const model::ForwardRow row{dist(rng), n_prompt + i, 0, nullptr};
    const std::vector<int32_t> zero = {0};
    SPECULA_RETURN_IF_ERROR(m.forward(pool, cache, std::span(&row, 1), {zero, logits.data(), nullptr}));
  }
  if (n_gen > 0) r.tg_tps = n_gen / t.elapsed_s();
  return r;
}

}  // namespace

int cmd_bench(const Args& args) {
  auto parser = bench_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("bench", flags.error().message());
  const auto path = flags->get("--model");
  if (!path) return fail("bench", "-m MODEL.gguf is required");
  auto np = flags->get_int("--n-prompt", 0, 1 << 20);
  if (!np.ok()) return fail("bench", np.error().message());
  auto ng = flags->get_int("--n-gen", 0, 1 << 20);
  if (!ng.ok()) return fail("bench", ng.error().message());
  auto ub = flags->get_int("--ubatch-size", 1, 1 << 20);
  if (!ub.ok()) return fail("bench", ub.error().message());
  auto bw = flags->get_double("--bandwidth", 0.001, 1e6);
  if (!bw.ok()) return fail("bench", bw.error().message());
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("bench", threads.error().message());
  auto model = model::TextModel::load(*path);
  if (!model.ok()) return fail("bench", model.error().message());
  auto& m = *model.value();
  ThreadPool pool(threads.value());
  const int n_prompt = static_cast<int>(np->value_or(512));
  const int n_gen = static_cast<int>(ng->value_or(128));
  const double gbs = bw->has_value() ? **bw : measure_read_bandwidth_gbs(pool);
  auto types = kv::parse_cache_types(flags->get("--cache-type-k"), flags->get("--cache-type-v"));
  if (!types.ok()) return fail("bench", types.error().message());
  auto r = run_bench(pool, m, n_prompt, n_gen, static_cast<int>(ub->value_or(512)), types.value());
  if (!r.ok()) return fail("bench", r.error().message());
  const double bytes = static_cast<double>(m.weight_bytes_per_token());
  std::printf("model: %s (%s, %d layers, hidden %d, vocab %d)\n", path->c_str(),
              model::text_arch_name(m.config().arch), m.config().n_layers, m.config().hidden, m.vocab());
  std::printf("threads: %d, machine read bandwidth: %.1f GB/s (%s)\n", pool.n_threads(), gbs,
              bw->has_value() ? "given" : "measured");
  std::printf("kv cache: K %s, V %s, %.2f MiB\n", kv::kv_type_name(types->k), kv::kv_type_name(types->v),
              static_cast<double>(r->kv_bytes) / (1 << 20));
  if (n_prompt > 0) std::printf("pp%d: %.2f tokens/s\n", n_prompt, r->pp_tps);
  if (n_gen > 0) {
    const double achieved = bytes * r->tg_tps / 1e9;
    std::printf("tg%d: %.2f tokens/s, %.1f MiB of weights per token, %.1f GB/s = %.0f%% of the bandwidth roofline\n",
                n_gen, r->tg_tps, bytes / (1 << 20), achieved, 100.0 * achieved / gbs);
  }
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(bench, 30, "prompt and generation tokens/s, bytes per token and % of the bandwidth roofline",
                   specula::tools::cmd_bench);
