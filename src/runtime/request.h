// A generation request as the engine sees it, and the per-request channel through which the engine thread sends
// results back to the HTTP thread that waits for them. Thread-safety: RequestChannel is shared by exactly one
// producer (the engine thread) and one consumer (the HTTP handler); all members are safe to call from either.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/multimodal.h"
#include "runtime/sampler_config.h"
#include "runtime/sampler_logprobs.h"
#include "runtime/stop_config.h"

namespace specula::runtime {

// Token counts and llama-server's `timings` of one finished request.
struct RequestUsage {
  int n_prompt = 0;        // prompt tokens
  int n_cached = 0;        // prompt tokens reused from the slot's cache (not recomputed)
  int n_generated = 0;
  double prompt_ms = 0;
  double generate_ms = 0;
  int n_drafted = 0;
  int n_accepted = 0;
  int slot = -1;
  bool stopped_by_word = false;  // a stop string ended generation
};

struct RequestEvent {
  enum class Kind { kText, kDone, kError };
  Kind kind = Kind::kText;
  std::string text;                       // kText: a piece of generated text (whole UTF-8 characters only)
  std::vector<int32_t> tokens;            // kText: the tokens that produced it (may be more than one piece)
  std::vector<TokenLogprobs> logprobs;    // kText, when the request has n_probs >= 0: one per entry of `tokens`
  FinishReason finish = FinishReason::kStop;  // kDone
  RequestUsage usage;                     // kDone
  std::optional<Error> error;             // kError
};

class RequestChannel {
 public:
  void push(RequestEvent event);
  // Waits up to `timeout` for the next event; nullopt on timeout.
  std::optional<RequestEvent> pop(std::chrono::milliseconds timeout);
  // The consumer went away (client disconnected): the engine frees the slot at its next step.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestEvent> events_;
  std::atomic<bool> cancelled_{false};
};

// The soft tokens of one image block in a prompt: positions [begin, begin + n_tokens), preceded by <|image> at
// begin - 1 and followed by <image|> at begin + n_tokens. `hash` identifies the image's embedding rows (the
// soft tokens all share one token id, so the prompt cache compares images by this instead).
struct ImageSpan {
  int32_t begin = 0;
  int32_t n_tokens = 0;
  uint64_t hash = 0;
};

struct GenRequest {
  std::vector<int32_t> prompt;       // full prompt (BOS included when the vocabulary adds one; pad id 0 at soft
                                     // tokens)
  SamplerConfig sampler;
  StopConfig stop;
  int id_slot = -1;                  // -1: any free slot (the one whose cache shares the longest prefix)
  bool cache_prompt = true;          // reuse the slot's cached prefix
  bool strip_leading_space = true;   // detokenizer option for the first generated token
  std::shared_ptr<RequestChannel> channel;
  // Requests with images (attach_images): embeddings[p] is the embedding row of prompt position p, null at text
  // positions; the rows point into `images`. All three empty for text-only requests.
  std::vector<ImageEmbedding> images;
  std::vector<const float*> embeddings;
  std::vector<ImageSpan> image_spans;
  // >= 0: every generated token carries its TokenLogprobs with this many top entries (at most kMaxTopLogprobs),
  // computed from the row of logits that predicted it; -1: none (no cost).
  int n_probs = -1;

  bool has_images() const { return !image_spans.empty(); }
};

// Expands the image placeholders of `prompt` (a lone <|image|> per image, as the chat template renders it) into
// image blocks bound to `images` in order (multimodal.h make_multimodal_prompt) and fills prompt, embeddings,
// images and image_spans. Errors (kInvalidArgument): placeholders and images differ in number, a malformed block.
Status attach_images(GenRequest& request, const ImageTokenIds& ids, std::vector<ImageEmbedding> images);

// A 64-bit FNV-1a hash of an image's embedding rows (its bytes).
uint64_t hash_image(const ImageEmbedding& image);

// The identity of each position for prompt-cache reuse: the token id, or at soft tokens a key made from the image
// hash and the offset in the block (never equal to a token id). Positions at or after tokens.size() are absent.
std::vector<uint64_t> position_keys(std::span<const int32_t> tokens, std::span<const ImageSpan> spans);

// The positions of `tokens` that can be reused from a cache holding `cached`: the common prefix of the keys, at
// most `limit`, moved back to the <|image> of an image block of `spans` it would cut (a block is prefilled
// whole, never from its middle).
size_t reusable_prefix(std::span<const uint64_t> cached, std::span<const uint64_t> tokens,
                       std::span<const ImageSpan> spans, size_t limit);

}  // namespace specula::runtime
