// specula perplexity -m M.gguf -f FILE [-c N]: perplexity by llama.cpp's method (see runtime/perplexity.h).
#include <cstdio>

#include "base/mapped_file.h"
#include "config/flags.h"
#include "model/text/text_model.h"
#include "runtime/perplexity.h"
#include "subcommand.h"
#include "tokenizer/tokenizer.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser perplexity_flags() {
  config::FlagParser p("perplexity", "-m MODEL.gguf -f TEXT [-c N]");
  p.add({{"-m", "--model"}, config::FlagKind::kValue, "model GGUF file", "", "FILE"});
  p.add({{"-f", "--file"}, config::FlagKind::kValue, "text file", "", "FILE"});
  p.add({{"-c", "--ctx-size"}, config::FlagKind::kValue, "chunk size in tokens", "512"});
  p.add({{"--chunks"}, config::FlagKind::kValue, "score at most N chunks (-1 = all)", "-1"});
  p.add({{"-ub", "--ubatch-size"}, config::FlagKind::kValue, "prefill chunk size", "512"});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  add_activations_flag(p);
  return p;
}

}  // namespace

int cmd_perplexity(const Args& args) {
  auto parser = perplexity_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("perplexity", flags.error().message());
  const auto model_path = flags->get("--model");
  const auto text_path = flags->get("--file");
  if (!model_path || !text_path) return fail("perplexity", "-m and -f are required");
  auto ctx = flags->get_int("--ctx-size", 4, 1 << 20);
  if (!ctx.ok()) return fail("perplexity", ctx.error().message());
  auto chunks = flags->get_int("--chunks", -1, 1 << 30);
  if (!chunks.ok()) return fail("perplexity", chunks.error().message());
  auto ub = flags->get_int("--ubatch-size", 1, 1 << 20);
  if (!ub.ok()) return fail("perplexity", ub.error().message());
  if (Status st = apply_activations(*flags); !st.ok()) return fail("perplexity", st.error().message());
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("perplexity", threads.error().message());
  auto text = read_file(*text_path);
  if (!text.ok()) return fail("perplexity", text.error().message());
  auto model = model::TextModel::load(*model_path);
  if (!model.ok()) return fail("perplexity", model.error().message());
  auto tok = tokenizer::Tokenizer::from_gguf(model.value()->file());
  if (!tok.ok()) return fail("perplexity", tok.error().message());
  const auto bos = tok->vocab().bos_id();
  if (!bos) return fail("perplexity", "the vocabulary has no BOS token");
  auto tokens = tok->tokenize(text.value(), {.add_special = false, .parse_special = false});
  if (!tokens.ok()) return fail("perplexity", tokens.error().message());
  tokens->insert(tokens->begin(), *bos);
  runtime::PerplexityOptions options;
  options.n_ctx = static_cast<int>(ctx->value_or(512));
  options.ubatch = static_cast<int>(ub->value_or(512));
  options.max_chunks = static_cast<int>(chunks->value_or(-1));
  ThreadPool pool(threads.value());
  auto r = runtime::perplexity(pool, *model.value(), tokens.value(), *bos, options, [&](int c, double ppl) {
    if (c == 0) std::fprintf(stderr, "perplexity: %zu tokens, n_ctx=%d\n", tokens->size(), options.n_ctx);
    std::printf("[%d]%.4f,", c + 1, ppl);
    std::fflush(stdout);
  });
  if (!r.ok()) return fail("perplexity", r.error().message());
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f (%d chunks, %d tokens scored)\n", r->ppl(), r->ppl_error(),
              r->n_chunks, r->n_scored);
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(perplexity, 70, "perplexity of a text (llama.cpp's method: second half of each chunk)",
                   specula::tools::cmd_perplexity);
