// Multimodal prompt assembly (see multimodal.h).
#include "runtime/multimodal.h"

namespace specula::runtime {

Result<ImageTokenIds> image_token_ids(const format::GgufFile& text_model) {
  SPECULA_TRY(const format::GgufArray* tokens, text_model.get_array("tokenizer.ggml.tokens"));
  ImageTokenIds ids;
  for (size_t i = 0; i < tokens->items.size(); ++i) {
    const std::string* s = tokens->items[i].as_string();
    if (s == nullptr) continue;
    if (*s == "<|image>") ids.boi = static_cast<int32_t>(i);
    if (*s == "<|image|>") ids.soft = static_cast<int32_t>(i);
    if (*s == "<image|>") ids.eoi = static_cast<int32_t>(i);
  }
  if (ids.boi < 0 || ids.soft < 0 || ids.eoi < 0) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: the vocabulary has no <|image>, <|image|> and <image|> tokens; this model takes no images",
                      text_model.path());
  }
  return ids;
}

Result<ImageEmbedding> embed_image(ThreadPool& pool, const model::VisionModel& vision, const RgbImage& image,
                                   int max_soft_tokens) {
  SPECULA_TRY(const ImagePatches p, preprocess_image(image, max_soft_tokens));
  SPECULA_TRY(model::VisionOutput out, vision.encode(pool, p.pixels, p.positions));
  return ImageEmbedding{out.n_tokens, std::move(out.embeds)};
}

Result<ImageEmbedding> embed_image_file(ThreadPool& pool, const model::VisionModel& vision, const std::string& path,
                                        int max_soft_tokens) {
  SPECULA_TRY(const RgbImage img, load_image(path));
  return embed_image(pool, vision, img, max_soft_tokens);
}

bool image_attention_bidirectional(const format::GgufFile& text_model, const model::VisionConfig& vision) {
  if (auto key = text_model.get_bool("gemma4.attention.bidirectional_vision"); key.ok()) return key.value();
  return vision.standardize;
}

Status check_vision_matches_text(const model::VisionModel& vision, const model::TextModel& text) {
  const int64_t want = text.weights().token_embd.cols;
  if (vision.config().text_hidden != want) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the mmproj projects to width {}, but the text model's hidden size is {}: they do not belong "
                      "together", vision.config().text_hidden, want);
  }
  // A llama.cpp 26B/31B text file has no bidirectional key: only the tower tells, and the model must be told.
  if (image_attention_bidirectional(text.file(), vision.config()) != text.config().bidirectional_images) {
    return make_error(ErrorCode::kInternal, "the text model's image attention ({}) differs from what the model pair "
                      "needs; bind the projector with runtime::bind_vision_to_text",
                      text.config().bidirectional_images ? "bidirectional" : "causal");
  }
  return ok_status();
}

Status bind_vision_to_text(const model::VisionModel& vision, model::TextModel& text) {
  text.set_bidirectional_images(image_attention_bidirectional(text.file(), vision.config()));
  return check_vision_matches_text(vision, text);
}

std::vector<int32_t> image_block(const ImageTokenIds& ids, int64_t n_tokens) {
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n_tokens) + 2);
  out.push_back(ids.boi);
  out.insert(out.end(), static_cast<size_t>(n_tokens), ids.soft);
  out.push_back(ids.eoi);
  return out;
}

Result<std::vector<model::ForwardRow>> multimodal_rows(std::span<const int32_t> tokens, const ImageTokenIds& ids,
                                                       std::span<const ImageEmbedding> images, int32_t seq) {
  std::vector<model::ForwardRow> rows;
  rows.reserve(tokens.size());
  size_t image = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t t = tokens[i];
    const auto pos = static_cast<int32_t>(i);
    if (t == ids.soft || t == ids.eoi) {
      return make_error(ErrorCode::kInvalidArgument, "token {} at position {} is outside an image block", t, i);
    }
    rows.push_back({t, pos, seq, nullptr});
    if (t != ids.boi) continue;
    size_t n = 0;
    while (i + 1 + n < tokens.size() && tokens[i + 1 + n] == ids.soft) ++n;
    if (i + 1 + n >= tokens.size() || tokens[i + 1 + n] != ids.eoi) {
      return make_error(ErrorCode::kInvalidArgument, "the image block at position {} does not end with <image|>", i);
    }
    if (image >= images.size()) {
      return make_error(ErrorCode::kInvalidArgument, "the tokens hold more image blocks than the {} image(s) given",
                        images.size());
    }
    const ImageEmbedding& img = images[image];
    if (static_cast<int64_t>(n) != img.n_tokens) {
      return make_error(ErrorCode::kInvalidArgument,
                        "image block {} at position {} has {} soft tokens, but image {} gives {}", image + 1, i, n,
                        image + 1, img.n_tokens);
    }
    const size_t width = n > 0 ? img.embeds.size() / n : 0;
    const auto block_end = static_cast<int32_t>(i + n);
    for (size_t j = 0; j < n; ++j) {
      rows.push_back({0, static_cast<int32_t>(i + 1 + j), seq, img.embeds.data() + j * width, block_end});
    }
    rows.push_back({ids.eoi, static_cast<int32_t>(i + 1 + n), seq, nullptr});
    i += n + 1;
    ++image;
  }
  if (image != images.size()) {
    return make_error(ErrorCode::kInvalidArgument, "{} image(s) given but the tokens hold {} image block(s)",
                      images.size(), image);
  }
  return rows;
}

std::vector<int32_t> expand_image_placeholders(std::span<const int32_t> tokens, const ImageTokenIds& ids,
                                               std::span<const ImageEmbedding> images) {
  std::vector<int32_t> out;
  size_t image = 0;
  bool in_block = false;
  for (const int32_t t : tokens) {
    if (t == ids.boi) in_block = true;
    if (t == ids.soft && !in_block) {
      // A lone placeholder: the next image's block (an extra placeholder stays, for multimodal_rows to report).
      if (image < images.size()) {
        const auto block = image_block(ids, images[image++].n_tokens);
        out.insert(out.end(), block.begin(), block.end());
        continue;
      }
    }
    if (t == ids.eoi && in_block) {
      in_block = false;
      ++image;
    }
    out.push_back(t);
  }
  return out;
}

Result<MultimodalPrompt> make_multimodal_prompt(std::span<const int32_t> tokens, const ImageTokenIds& ids,
                                                std::vector<ImageEmbedding> images) {
  MultimodalPrompt p;
  p.images = std::move(images);
  const auto expanded = expand_image_placeholders(tokens, ids, p.images);
  SPECULA_TRY(const auto rows, multimodal_rows(expanded, ids, p.images));
  for (const auto& r : rows) {
    p.tokens.push_back(r.token);
    p.embeddings.push_back(r.embedding);
  }
  return p;
}

}  // namespace specula::runtime
