// specula run: one-shot generation that streams text as it is generated, then prints speed figures.
#include <cstdio>
#include <optional>

#include "model/text/text_model.h"
#include "model/vision/vision_model.h"
#include "run_options.h"
#include "runtime/generate.h"
#include "runtime/multimodal_generate.h"
#include "runtime/speculative.h"
#include "runtime/speculative_setup.h"
#include "runtime/stop_matcher.h"
#include "subcommand.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace specula::tools {
namespace {

Result<tokenizer::ChatTemplateVariant> chat_variant(const RunSettings& s, const format::GgufFile& file) {
  if (s.chat_template) return tokenizer::parse_chat_template_variant(*s.chat_template);
  return tokenizer::chat_template_of(file);
}

constexpr const char* kImageMarker = "<|image|>";

// The user turn's parts: text split at each <|image|> marker into image parts; with images but no marker,
// the images come first.
std::vector<tokenizer::ChatPart> user_parts(const RunSettings& s) {
  std::vector<tokenizer::ChatPart> parts;
  const std::string& text = *s.prompt;
  if (!s.images.empty() && text.find(kImageMarker) == std::string::npos) {
    for (size_t i = 0; i < s.images.size(); ++i) parts.push_back(tokenizer::ChatPart::image());
    parts.push_back(tokenizer::ChatPart::make_text(text));
    return parts;
  }
  size_t begin = 0;
  for (size_t at = text.find(kImageMarker); at != std::string::npos; at = text.find(kImageMarker, begin)) {
    if (at > begin) parts.push_back(tokenizer::ChatPart::make_text(text.substr(begin, at - begin)));
    parts.push_back(tokenizer::ChatPart::image());
    begin = at + std::string(kImageMarker).size();
  }
  if (begin < text.size()) parts.push_back(tokenizer::ChatPart::make_text(text.substr(begin)));
  return parts;
}

Result<std::vector<int32_t>> prompt_tokens(const RunSettings& s, const tokenizer::Tokenizer& tok,
                                           const format::GgufFile& file) {
  if (!s.chat) {
    std::string text = *s.prompt;
    if (!s.images.empty() && text.find(kImageMarker) == std::string::npos) {
      std::string markers;
      for (size_t i = 0; i < s.images.size(); ++i) markers += kImageMarker;
      text = markers + text;
    }
    return tok.tokenize(text, {.add_special = true, .parse_special = true});
  }
  std::vector<tokenizer::ChatMessage> messages;
  if (s.system) messages.push_back({tokenizer::ChatRole::kSystem, {tokenizer::ChatPart::make_text(*s.system)}});
  messages.push_back({tokenizer::ChatRole::kUser, user_parts(s)});
  SPECULA_TRY(const auto variant, chat_variant(s, file));
  SPECULA_TRY(const std::string text, tokenizer::render_chat(messages, {.variant = variant,
                                                                       .add_generation_prompt = true,
                                                                       .enable_thinking = s.thinking,
                                                                       .add_bos = true}));
  return tok.tokenize(text, {.add_special = false, .parse_special = true});
}

void print_text(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Generation with drafting (MTP assistant or n-gram): the same tokens as runtime::generate in greedy mode, and
// the same distribution when sampling. Prints the acceptance summary (and every round with --spec-stats).
Result<runtime::GenerateStats> generate_speculative(const RunSettings& s, ThreadPool& pool, model::TextModel& m,
                                                    kv::KvCache& cache, const std::vector<int32_t>& prompt,
                                                    std::span<const float* const> prompt_embeddings,
                                                    runtime::Sampler& sampler, const runtime::GenerateOptions& options,
                                                    const runtime::TokenCallback& on_token) {
  SPECULA_TRY(auto speculator, runtime::Speculator::create(s.spec, m));
  std::fprintf(stderr, "speculation: %s%s\n", config::describe(s.spec).c_str(),
               speculator->drafter() && speculator->drafter()->centroid_head() ? ", centroid head" : "");
  runtime::SpecOptions o;
  o.n_draft = speculator->n_draft();
  o.ubatch = options.ubatch;
  o.max_tokens = options.max_tokens;
  o.ignore_eos = options.ignore_eos;
  o.stop_ids = options.stop_ids;
  o.record_rounds = s.spec_stats;
  const runtime::SpecSequence seq{prompt, &sampler, prompt_embeddings};
  SPECULA_TRY(auto r, runtime::speculative_generate(pool, m, cache, std::span(&seq, 1), speculator->source(), o,
                                                    [&](size_t, int32_t t) { return on_token(t); }));
  if (s.spec_stats) {
    for (size_t i = 0; i < r.stats.rounds.size(); ++i) {
      std::fprintf(stderr, "round %zu: drafted %d, accepted %d\n", i + 1, r.stats.rounds[i].drafted,
                   r.stats.rounds[i].accepted);
    }
  }
  std::fprintf(stderr, "%s", r.stats.summary().c_str());
  runtime::GenerateStats stats;
  stats.n_prompt = r.n_prompt;
  stats.n_generated = static_cast<int>(r.sequences[0].tokens.size());
  stats.prompt_s = r.prompt_s;
  stats.generate_s = r.generate_s;
  stats.context_full = r.sequences[0].context_full;
  return stats;
}

// The prompt with its images encoded (--mmproj/--image): placeholders expanded to image blocks.
// Also sets the text model's image attention (bidirectional on 26B/31B) from the pair.
Result<runtime::MultimodalPrompt> encode_images(const RunSettings& s, model::TextModel& m,
                                                const std::vector<int32_t>& tokens) {
  SPECULA_TRY(auto vision, model::VisionModel::load(*s.mmproj_path));
  SPECULA_RETURN_IF_ERROR(runtime::bind_vision_to_text(*vision, m));
  SPECULA_TRY(const auto ids, runtime::image_token_ids(m.file()));
  ThreadPool pool(s.threads);
  std::vector<runtime::ImageEmbedding> images;
  for (const auto& path : s.images) {
    SPECULA_TRY(auto emb, runtime::embed_image_file(pool, *vision, path, s.image_max_tokens));
    std::fprintf(stderr, "image %s: %lld soft tokens\n", path.c_str(), static_cast<long long>(emb.n_tokens));
    images.push_back(std::move(emb));
  }
  return runtime::make_multimodal_prompt(tokens, ids, std::move(images));
}

// Streams the generated text (when the model has a tokenizer); returns the ids generated. With images, `mm`
// holds the expanded prompt and its embedding rows.
Result<std::vector<int32_t>> stream(const RunSettings& s, model::TextModel& m,
                                    const std::optional<tokenizer::Tokenizer>& tok, const std::vector<int32_t>& prompt,
                                    const std::optional<runtime::MultimodalPrompt>& mm, bool echoed,
                                    runtime::GenerateStats& stats) {
  SPECULA_TRY(auto sampler_cfg, runtime::SamplerConfig::create(s.sampling, m.vocab()));
  runtime::Sampler sampler(std::move(sampler_cfg));
  kv::KvPoolOptions kv_options;
  kv_options.type_k = s.cache_types.k;
  kv_options.type_v = s.cache_types.v;
  kv_options.n_ctx = s.n_ctx;
  // A prefill chunk (an image block of a bidirectional model may raise it) or a verify pass: 1 + drafts rows.
  const int prefill_rows = mm ? runtime::max_prefill_chunk(runtime::prefill_block_ends(m, mm->embeddings), s.ubatch)
                              : s.ubatch;
  kv_options.max_batch = std::max(prefill_rows, 1 + config::draft_tokens(s.spec));
  SPECULA_TRY(auto cache, m.make_kv_cache(kv_options));
  ThreadPool pool(s.threads);
  std::optional<tokenizer::StreamDetokenizer> detok;
  if (tok) detok.emplace(*tok, tokenizer::DetokenizeOptions{.render_special = false, .strip_leading_space = !echoed});
  runtime::StopMatcher matcher(s.stop.stop);
  runtime::GenerateOptions options{s.ubatch, s.stop.max_tokens, s.stop.ignore_eos,
                                   tok ? tok->vocab().stop_ids() : std::vector<int32_t>{}};
  std::vector<int32_t> generated;
  Status piece_error;
  auto on_token = [&](int32_t token) {
    generated.push_back(token);
    if (!detok) return true;
    if (tok->vocab().is_stop(token) && !s.stop.ignore_eos) return false;
    auto piece = detok->push(token);
    if (!piece.ok()) {
      piece_error = piece.error();
      return false;
    }
    const auto out = matcher.feed(piece.value());
    print_text(out.text);
    return !matcher.stopped();
  };
  const bool spec_off = std::holds_alternative<config::SpecOff>(s.spec);
  if (mm && spec_off) {
    SPECULA_TRY(stats, runtime::generate_multimodal(pool, m, *cache, *mm, sampler, options, on_token));
  } else if (mm) {
    SPECULA_TRY(stats, generate_speculative(s, pool, m, *cache, mm->tokens, mm->embeddings, sampler, options, on_token));
  } else if (spec_off) {
    SPECULA_TRY(stats, runtime::generate(pool, m, *cache, prompt, sampler, options, on_token));
  } else {
    SPECULA_TRY(stats, generate_speculative(s, pool, m, *cache, prompt, {}, sampler, options, on_token));
  }
  SPECULA_RETURN_IF_ERROR(piece_error);
  if (detok && !matcher.stopped()) print_text(matcher.feed(detok->finish()).text + matcher.finish());
  return generated;
}

}  // namespace

int cmd_run(const Args& args) {
  auto parser = run_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("run", flags.error().message());
  auto settings = run_settings(flags.value());
  if (!settings.ok()) return fail("run", settings.error().message());
  const RunSettings& s = settings.value();
  kernels::cpu::set_act_precision(s.activations);
  auto model = model::TextModel::load(s.model_path);
  if (!model.ok()) return fail("run", model.error().message());
  // A model file without a tokenizer can still run a prompt given as ids (--tokens); only ids are printed.
  std::optional<tokenizer::Tokenizer> tok;
  if (!s.tokens || model.value()->file().find("tokenizer.ggml.model") != nullptr) {
    auto loaded = tokenizer::Tokenizer::from_gguf(model.value()->file());
    if (!loaded.ok()) return fail("run", loaded.error().message());
    tok = std::move(loaded.value());
  }
  auto prompt = s.tokens ? Result<std::vector<int32_t>>(*s.tokens) : prompt_tokens(s, *tok, model.value()->file());
  if (!prompt.ok()) return fail("run", prompt.error().message());
  bool echoed = false;
  if (s.echo_prompt && !s.chat && !s.tokens) {
    auto text = tok->detokenize(prompt.value(), {.render_special = false, .strip_leading_space = false});
    if (text.ok() && !text->empty()) {
      print_text(*text);
      echoed = true;
    }
  }
  std::optional<runtime::MultimodalPrompt> mm;
  if (s.mmproj_path) {
    auto encoded = encode_images(s, *model.value(), prompt.value());
    if (!encoded.ok()) return fail("run", encoded.error().message());
    mm = std::move(encoded.value());
  }
  runtime::GenerateStats stats;
  auto generated = stream(s, *model.value(), tok, prompt.value(), mm, echoed, stats);
  if (!generated.ok()) return fail("run", generated.error().message());
  print_text("\n");
  if (s.print_ids || !tok) {
    std::string ids;
    for (const int32_t id : generated.value()) {
      if (!ids.empty()) ids += ' ';
      ids += std::to_string(id);
    }
    print_text(ids + "\n");
  }
  std::fprintf(stderr, "\nprompt: %d tokens, %.2f tokens/s | generation: %d tokens, %.2f tokens/s%s\n", stats.n_prompt,
               stats.n_prompt / std::max(stats.prompt_s, 1e-9), stats.n_generated,
               stats.n_generated / std::max(stats.generate_s, 1e-9), stats.context_full ? " (context full)" : "");
  return 0;
}

}  // namespace specula::tools

SPECULA_SUBCOMMAND(run, 20, "generate text from a prompt, streaming it as it is produced", specula::tools::cmd_run);
