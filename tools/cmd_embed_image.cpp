// specula embed-image --mmproj P.gguf --image IMG [--image-max-tokens N] --out FILE [-t N]
// Writes the image's projected embeddings, raw little-endian float32 [n_soft_tokens, text_hidden], the rows
// that replace the image's soft tokens in a prompt.
#include <cstdio>
#include <fstream>

#include "config/flags.h"
#include "model/vision/vision_model.h"
#include "runtime/multimodal.h"
#include "subcommand.h"
#include "tool_common.h"

namespace specula::tools {
namespace {

config::FlagParser embed_image_flags() {
  config::FlagParser p("embed-image", "--mmproj MMPROJ.gguf --image IMG --out FILE [options]");
  p.add({{"--mmproj"}, config::FlagKind::kValue, "vision projector GGUF (llama.cpp mmproj, gemma4v)", "", "FILE"});
  p.add({{"--image"}, config::FlagKind::kValue, "image file (PNG, JPEG, BMP, GIF first frame, ...)", "", "FILE"});
  p.add({{"--image-max-tokens"}, config::FlagKind::kValue, "soft-token budget: 70, 140, 280, 560 or 1120", "280"});
  p.add({{"--out", "-o"}, config::FlagKind::kValue, "output file: float32 [n_soft_tokens, text_hidden]", "", "FILE"});
  p.add({{"-t", "--threads"}, config::FlagKind::kValue, "CPU threads", "all cores"});
  return p;
}

}  // namespace

int cmd_embed_image(const Args& args) {
  auto parser = embed_image_flags();
  if (config::FlagParser::help_requested(args)) {
    std::printf("%s", parser.help().c_str());
    return 0;
  }
  auto flags = parser.parse(args);
  if (!flags.ok()) return fail("embed-image", flags.error().message());
  const auto mmproj = flags->get("--mmproj");
  const auto image = flags->get("--image");
  const auto out_path = flags->get("--out");
  if (!mmproj || !image || !out_path) return fail("embed-image", "--mmproj, --image and --out are required");
  auto budget = flags->get_int("--image-max-tokens", 1, 1 << 20);
  if (!budget.ok()) return fail("embed-image", budget.error().message());
  const int max_tokens = static_cast<int>(budget->value_or(runtime::kDefaultImageMaxTokens));
  if (!runtime::valid_max_soft_tokens(max_tokens)) {
    return fail("embed-image", "--image-max-tokens must be 70, 140, 280, 560 or 1120");
  }
  auto threads = thread_count(*flags);
  if (!threads.ok()) return fail("embed-image", threads.error().message());
  auto vision = model::VisionModel::load(*mmproj);
  if (!vision.ok()) return fail("embed-image", vision.error().message());
  ThreadPool pool(threads.value());
  auto emb = runtime::embed_image_file(pool, *vision.value(), *image, max_tokens);
  if (!emb.ok()) return fail("embed-image", emb.error().message());
  std::ofstream out(*out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(emb->embeds.data()),
            static_cast<std::streamsize>(emb->embeds.size() * sizeof(float)));
  if (!out) return fail("embed-image", "cannot write '" + *out_path + "'");
  std::fprintf(stderr, "specula embed-image: wrote %lld x %lld float32 to %s\n", static_cast<long long>(emb->n_tokens),
               static_cast<long long>(vision.value()->config().text_hidden), out_path->c_str());
  return 0;
}

}  // namespace specula::tools

// Registered by hand: the command name has a hyphen, which SPECULA_SUBCOMMAND's identifier cannot hold.
static const ::specula::tools::SubcommandRegistrar specula_registrar_embed_image(
    {"embed-image", "write the projected float32 embeddings of an image (vision tower)", 62,
     specula::tools::cmd_embed_image});
