// specula logits -m M.gguf --tokens 2,105,... --out FILE [--ubatch N] [-t N]
// Writes raw little-endian float32 logits [n_tokens, n_vocab], row-major, one row per prompt position.
// With --mmproj and --image (repeatable), each image block of the tokens (<|image>, N x <|image|>, <image|>)
// takes the next image's embeddings; N must equal that image's soft-token count. On models that attend
// bidirectionally inside images (26B/31B), a chunk never splits an image block (-ub is raised for a longer one).
#include <cstdio>
#include <fstream>

#include "config/flags.h"
#include "kv/cache_types.h"
#include "model/text/text_model.h"
#include "model/vision/vision_model.h"
#include "runtime/generate.h"
#include "runtime/multimodal.h"
#include "subcommand.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser logits_flags() {
  config::FlagParser p("logits", "-m MODEL.gguf --tokens IDS --out FILE [options]");
  p.add({{"-m", "--model"}, config::FlagKind::kValue, "model GGUF file", "", "FILE"});
  p.add({{"--tokens"}, config::FlagKind::kValue, "prompt token ids, comma or space separated", "", "IDS"});
  p.add({{"--out", "-o"}, config::FlagKind::kValue, "output file: float32 [n_tokens, n_vocab]", "", "FILE"});
  p.add({{"-ub", "--ubatch", "--ubatch-size"}, config::FlagKind::kValue, "prefill chunk size (1 = token by token)", "512"});
  p.add({{"-ctk", "--cache-type-k"}, config::FlagKind::kValue, kv::kCacheTypeHelp, kv::kCacheTypeDefault, "TYPE"});
  p.add({{"-ctv", "--cache-type-v"}, config::FlagKind::kValue, kv::kCacheTypeHelp, kv::kCacheTypeDefault, "TYPE"});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  add_activations_flag(p);
  p.add({{"--mmproj"}, config::FlagKind::kValue, "vision projector GGUF (needed by --image)", "", "FILE"});
  p.add({{"--image"}, config::FlagKind::kRepeated, "image for the next image block of --tokens (repeatable)", "", "FILE"});
  p.add({{"--image-max-tokens"}, config::FlagKind::kValue, "soft tokens per image: 70, 140, 280, 560 or 1120", "280"});
  return p;
}

// The forward rows of the tokens: plain token rows, or with --mmproj/--image, image blocks as embedding rows
// (the embeddings are kept in `images`, which must outlive the rows).
Result<std::vector<model::ForwardRow>> prompt_rows(const config::FlagValues& flags, ThreadPool& pool,
                                                   model::TextModel& m, const std::vector<int32_t>& tokens,
                                                   std::vector<runtime::ImageEmbedding>& images) {
  const auto mmproj = flags.get("--mmproj");
  const auto paths = flags.all("--image");
  if (!mmproj) {
    if (!paths.empty()) return make_error(ErrorCode::kInvalidArgument, "--image needs --mmproj");
    std::vector<model::ForwardRow> rows;
    for (size_t i = 0; i < tokens.size(); ++i) rows.push_back({tokens[i], static_cast<int32_t>(i), 0, nullptr});
    return rows;
  }
  SPECULA_TRY(const auto budget, flags.get_int("--image-max-tokens", 1, 1 << 20));
  const int max_tokens = static_cast<int>(budget.value_or(runtime::kDefaultImageMaxTokens));
  if (!runtime::valid_max_soft_tokens(max_tokens)) {
    return make_error(ErrorCode::kInvalidArgument, "--image-max-tokens must be 70, 140, 280, 560 or 1120");
  }
  SPECULA_TRY(auto vision, model::VisionModel::load(*mmproj));
  SPECULA_RETURN_IF_ERROR(runtime::bind_vision_to_text(*vision, m));
  SPECULA_TRY(const auto ids, runtime::image_token_ids(m.file()));
  for (const auto& path : paths) {
    SPECULA_TRY(auto emb, runtime::embed_image_file(pool, *vision, path, max_tokens));
    images.push_back(std::move(emb));
  }
  return runtime::multimodal_rows(tokens, ids, images);
}

}  // namespace

int cmd_logits(const Args& args) {
  auto parser = logits_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("logits", flags.error().message());
  const auto model_path = flags->get("--model");
  const auto token_text = flags->get("--tokens");
  const auto out_path = flags->get("--out");
  if (!model_path || !token_text || !out_path) return fail("logits", "-m, --tokens and --out are required");
  auto ubatch = flags->get_int("--ubatch-size", 1, 1 << 20);  // flags are keyed by their longest spelling
  if (!ubatch.ok()) return fail("logits", ubatch.error().message());
  if (Status st = apply_activations(*flags); !st.ok()) return fail("logits", st.error().message());
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("logits", threads.error().message());
  auto tokens = parse_token_list(*token_text);
  if (!tokens.ok()) return fail("logits", tokens.error().message());
  if (tokens->empty()) return fail("logits", "--tokens is empty");

  auto model = model::TextModel::load(*model_path);
  if (!model.ok()) return fail("logits", model.error().message());
  auto& m = *model.value();
  const size_t n = tokens->size();
  const size_t vocab = static_cast<size_t>(m.vocab());
  auto types = kv::parse_cache_types(flags->get("--cache-type-k"), flags->get("--cache-type-v"));
  if (!types.ok()) return fail("logits", types.error().message());
  ThreadPool pool(threads.value());
  std::vector<runtime::ImageEmbedding> images;
  auto all_rows = prompt_rows(*flags, pool, m, *tokens, images);
  if (!all_rows.ok()) return fail("logits", all_rows.error().message());
  // Chunks of -ub rows; a bidirectional model's image blocks stay whole (a longer block is one chunk).
  const int ub = static_cast<int>(ubatch->value_or(512));
  std::vector<int32_t> block_ends;
  if (m.config().bidirectional_images) {
    for (const auto& r : *all_rows) block_ends.push_back(r.block_end);
  }
  kv::KvPoolOptions kv_options;
  kv_options.type_k = types->k;
  kv_options.type_v = types->v;
  kv_options.n_ctx = static_cast<int>(n);
  kv_options.max_batch = runtime::max_prefill_chunk(block_ends, ub);
  auto cache = m.make_kv_cache(kv_options);
  if (!cache.ok()) return fail("logits", cache.error().message());
  std::vector<float> logits(n * vocab);
  for (size_t begin = 0, end = 0; begin < n; begin = end) {
    end = runtime::prefill_chunk_end(block_ends, begin, n, ub);
    const std::span<const model::ForwardRow> rows(all_rows->data() + begin, end - begin);
    std::vector<int32_t> out_rows;
    for (size_t i = begin; i < end; ++i) out_rows.push_back(static_cast<int32_t>(i - begin));
    auto st = m.forward(pool, *cache.value(), rows, {out_rows, logits.data() + begin * vocab, nullptr});
    if (!st.ok()) return fail("logits", st.error().message());
  }
  std::ofstream out(*out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!out) return fail("logits", "cannot write '" + *out_path + "'");
  std::fprintf(stderr, "specula logits: wrote %zu x %zu float32 to %s\n", n, vocab, out_path->c_str());
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(logits, 60, "write the raw float32 logits of every prompt position", specula::tools::cmd_logits);
