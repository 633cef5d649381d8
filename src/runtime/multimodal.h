// Multimodal prompt assembly: images -> vision embeddings -> forward rows that replace each image block's
// soft tokens (gemma4-spec.md §2.6). Image blocks in a token list are `<|image>` N x `<|image|>` `<image|>`.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "model/text/text_model.h"
#include "model/vision/vision_model.h"
#include "runtime/image.h"

namespace specula::runtime {

inline constexpr int kDefaultImageMaxTokens = 280;

// The image token ids of a text model's vocabulary (looked up by their text).
struct ImageTokenIds {
  int32_t boi = -1;   // <|image>
  int32_t soft = -1;  // <|image|>
  int32_t eoi = -1;   // <image|>
};
// Errors: the vocabulary lacks one of the three tokens (not a Gemma 4 vision-capable vocabulary).
Result<ImageTokenIds> image_token_ids(const format::GgufFile& text_model);

// One encoded image: embeds [n_tokens, text_hidden].
struct ImageEmbedding {
  int64_t n_tokens = 0;
  std::vector<float> embeds;
};

Result<ImageEmbedding> embed_image(ThreadPool& pool, const model::VisionModel& vision, const RgbImage& image,
                                   int max_soft_tokens);
Result<ImageEmbedding> embed_image_file(ThreadPool& pool, const model::VisionModel& vision, const std::string& path,
                                        int max_soft_tokens);

// Whether image blocks attend bidirectionally on the text model's sliding layers (gemma4-spec.md §1.12: the
// 26B/31B "vision" models; E2B/E4B are causal). From specula's own key gemma4.attention.bidirectional_vision
// when the text GGUF has it; llama.cpp's files have no key, and there the tower decides: the standardized
// towers (std_bias/std_scale) are the 26B/31B ones, the clipped ones E2B/E4B.
bool image_attention_bidirectional(const format::GgufFile& text_model, const model::VisionConfig& vision);

// Errors when the projector's output width differs from the text model's hidden size, or when the text model's
// image attention (TextConfig::bidirectional_images) is not what image_attention_bidirectional says for the pair
// (a llama.cpp 26B/31B text file not bound with bind_vision_to_text).
Status check_vision_matches_text(const model::VisionModel& vision, const model::TextModel& text);
// Sets the text model's image attention (TextModel::set_bidirectional_images) from image_attention_bidirectional,
// then check_vision_matches_text. Call once after loading both, before any forward with images.
Status bind_vision_to_text(const model::VisionModel& vision, model::TextModel& text);

// The token ids of one image block: boi, n x soft, eoi.
std::vector<int32_t> image_block(const ImageTokenIds& ids, int64_t n_tokens);

// Forward rows of one sequence from position 0: the i-th image block's soft tokens become embedding rows of
// images[i] (token = pad id 0 for PLE; block_end = the position of the block's last soft token). The rows point
// into `images`, which must outlive them. Batches cut from them must keep each image block whole on
// bidirectional models (runtime::prefill_chunk_end over the rows' block_end). Errors: a
// block's soft-token count differs from its image's, blocks and images differ in number, a soft token or
// eoi outside a block.
Result<std::vector<model::ForwardRow>> multimodal_rows(std::span<const int32_t> tokens, const ImageTokenIds& ids,
                                                       std::span<const ImageEmbedding> images, int32_t seq = 0);

// Expands each standalone image placeholder (a lone <|image|>, as the chat template and the processor write
// it) into the next image's block; blocks already written out in full are kept. Image i is the i-th block.
std::vector<int32_t> expand_image_placeholders(std::span<const int32_t> tokens, const ImageTokenIds& ids,
                                               std::span<const ImageEmbedding> images);

// A prompt as the text model consumes it: tokens (pad id 0 at soft tokens) and per position the embedding
// row or null. `embeddings` points into `images`; moving the struct keeps them valid. The image blocks are the
// runs of non-null embeddings (runtime::image_block_ends / prefill_block_ends give ForwardRow::block_end).
struct MultimodalPrompt {
  std::vector<ImageEmbedding> images;
  std::vector<int32_t> tokens;
  std::vector<const float*> embeddings;
};

// Expands placeholders and binds the blocks to the images (errors as multimodal_rows).
Result<MultimodalPrompt> make_multimodal_prompt(std::span<const int32_t> tokens, const ImageTokenIds& ids,
                                                std::vector<ImageEmbedding> images);

}  // namespace specula::runtime
