// specula bench -m M.gguf [-p 512] [-n 128] [-ub 512] [-t N] [--bandwidth GBPS]
// Prompt-processing and generation speed, bytes of weights read per generated token, and the achieved
// bandwidth as a percentage of the machine's measured read bandwidth (the decode roofline).
#include <cstdio>
#include <random>

#include "bandwidth.h"
#include "base/timer.h"
#include "config/flags.h"
#include "kv/cache_types.h"
#include "model/mtp/mtp_drafter.h"
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
  add_activations_flag(p);
  p.add({{"--bandwidth"}, config::FlagKind::kValue, "machine read bandwidth in GB/s (default: measured)", "", "GBPS"});
  p.add({{"--mtp-head"}, config::FlagKind::kValue,
         "also time one MTP assistant draft step and a verify pass against one target decode step", "", "FILE"});
  p.add({{"--draft-block-size"}, config::FlagKind::kValue, "drafts per round for the verify timing (with --mtp-head)",
         "3"});
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

// Mean seconds of one call of fn over n_iter calls (after one warm-up call).
template <typename Fn>
Result<double> time_per_call(int n_iter, Fn&& fn) {
  SPECULA_RETURN_IF_ERROR(fn());
  Timer t;
  for (int i = 0; i < n_iter; ++i) SPECULA_RETURN_IF_ERROR(fn());
  return t.elapsed_s() / n_iter;
}

// Draft-step cost against a target decode step at the same context (n_ctx committed entries): what one
// speculation round costs (n_draft draft steps + one verify of 1 + n_draft rows) in target steps.
Status bench_mtp(ThreadPool& pool, model::TextModel& m, const std::string& path, kv::CacheTypes types, int n_ctx,
                 int n_iter, int n_draft) {
  SPECULA_TRY(auto drafter, model::MtpDrafter::load(path, m));
  kv::KvPoolOptions o;
  o.type_k = types.k;
  o.type_v = types.v;
  o.n_ctx = n_ctx + n_draft + 1;
  o.max_batch = std::max(n_ctx, n_draft + 1);
  SPECULA_TRY(auto cache, m.make_kv_cache(o));
  std::vector<model::ForwardRow> rows;
  for (int i = 0; i < n_ctx; ++i) rows.push_back({(i * 7919 + 13) % m.vocab(), i, 0, nullptr});
  std::vector<float> logits(static_cast<size_t>(m.vocab()) * static_cast<size_t>(n_draft + 1));
  std::vector<float> hidden(static_cast<size_t>(m.config().hidden) * static_cast<size_t>(n_draft + 1));
  const std::vector<int32_t> last = {n_ctx - 1};
  SPECULA_RETURN_IF_ERROR(m.forward(pool, *cache, rows, {last, logits.data(), hidden.data()}));
  const model::ForwardRow step_row{1, n_ctx, 0, nullptr};
  const std::vector<int32_t> zero = {0};
  SPECULA_TRY(const double target_s, time_per_call(n_iter, [&] {
    return m.forward(pool, *cache, std::span(&step_row, 1), {zero, logits.data(), nullptr});
  }));
  std::vector<model::ForwardRow> verify;
  std::vector<int32_t> all;
  for (int j = 0; j <= n_draft; ++j) {
    verify.push_back({1 + j, n_ctx + j, 0, nullptr});
    all.push_back(j);
  }
  SPECULA_TRY(const double verify_s, time_per_call(n_iter, [&] {
    return m.forward(pool, *cache, verify, {all, logits.data(), hidden.data()});
  }));
  std::vector<float> h_next(static_cast<size_t>(drafter->backbone()));
  int32_t draft = 0;
  const model::DraftStepRow draft_row{1, hidden.data(), n_ctx, 0, n_ctx};
  SPECULA_TRY(const double draft_s, time_per_call(n_iter, [&] {
    return drafter->step(pool, *cache, drafter->target_slots(), std::span(&draft_row, 1),
                         {nullptr, &draft, h_next.data()});
  }));
  const double round = n_draft * draft_s + verify_s;
  std::printf("mtp: %s (%d layers, hidden %d, %s head), %.2f MiB of weights per draft step\n", path.c_str(),
              drafter->config().n_layers, drafter->config().hidden, drafter->centroid_head() ? "centroid" : "full",
              static_cast<double>(drafter->weight_bytes_per_step()) / (1 << 20));
  std::printf("at context %d: target step %.3f ms, draft step %.3f ms = %.3f target steps, verify of %d rows %.3f ms = "
              "%.2f target steps\n", n_ctx, 1e3 * target_s, 1e3 * draft_s, draft_s / target_s, n_draft + 1,
              1e3 * verify_s, verify_s / target_s);
  std::printf("a round of %d drafts costs %.2f target steps: break-even at %.2f accepted drafts per round\n", n_draft,
              round / target_s, round / target_s - 1.0);
  return ok_status();
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
  if (Status st = apply_activations(*flags); !st.ok()) return fail("bench", st.error().message());
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
  if (const auto head = flags->get("--mtp-head")) {
    auto nd = flags->get_int("--draft-block-size", 1, 32);
    if (!nd.ok()) return fail("bench", nd.error().message());
    const Status st = bench_mtp(pool, m, *head, types.value(), std::max(n_prompt, 1), std::max(n_gen, 1),
                                static_cast<int>(nd->value_or(3)));
    if (!st.ok()) return fail("bench", st.error().message());
  } else if (flags->has("--draft-block-size")) {
    return fail("bench", "--draft-block-size needs --mtp-head");
  }
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(bench, 30, "prompt and generation tokens/s, bytes per token and % of the bandwidth roofline",
                   specula::tools::cmd_bench);
