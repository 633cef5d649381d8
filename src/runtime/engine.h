// The serving engine (ARCHITECTURE.md §4): one thread owns the target model, the KV pool (one sequence per slot)
// and the optional speculator; every step it admits queued requests into free slots, prefills prompt chunks and
// decodes one token (or 1 + drafts when speculating) for every generating slot in one batch. HTTP threads only
// call submit() and read their RequestChannel.
//
// Thread-safety: submit(), metrics(), slots() and stop() may be called from any thread; everything else is
// immutable after create().
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "config/serve_config.h"
#include "config/speculative.h"
#include "kv/cache_types.h"
#include "kv/kv_cache.h"
#include "model/text/text_model.h"
#include "model/vision/vision_model.h"
#include "runtime/multimodal.h"
#include "runtime/request.h"
#include "runtime/speculative_setup.h"
#include "tokenizer/tokenizer.h"

namespace specula::runtime {

struct EngineOptions {
  std::string model_path;
  int n_ctx = 4096;       // positions per slot
  int n_parallel = 1;     // slots
  int threads = 1;
  int ubatch = 512;       // prefill chunk (rows of one slot per forward call)
  int queue_max = 4;      // waiting requests before submit() refuses
  kv::CacheTypes cache_types;
  config::SpecConfig spec;
  config::VisionConfig vision;  // VisionOn: the mmproj is loaded and checked against the model at create()
};

// Speculation counters of one kind of request (text-only, or with images). by_pos[i]: rounds that drafted at
// least i + 1 tokens (drafted) / whose first i + 1 drafts were accepted (accepted).
struct SpecCounters {
  int64_t drafted = 0;
  int64_t accepted = 0;
  std::vector<int64_t> drafted_by_pos, accepted_by_pos;
};

// Counters for /metrics (monotonic totals and current gauges).
struct EngineMetrics {
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0;
  int64_t generated_tokens = 0;
  double generate_seconds = 0;
  int64_t requests_total = 0;
  int requests_processing = 0;
  int requests_deferred = 0;
  int64_t kv_used_cells = 0;
  int64_t kv_total_cells = 0;
  int64_t drafted = 0;   // all requests
  int64_t accepted = 0;
  SpecCounters spec_text, spec_image;  // counted when a verify batch is accepted (live, not at the request's end)
  int64_t image_requests = 0;          // finished requests that had images
  int64_t images_encoded = 0;
  double image_encode_seconds = 0;
};

struct SlotInfo {
  int id = 0;
  bool processing = false;
  int n_past = 0;            // positions in the slot's cache
  int n_prompt = 0;
  int n_generated = 0;
};

class Engine {
 public:
  // Loads the model, its tokenizer, the KV pool and the speculator. Errors: the files', the pool's size checks.
  static Result<std::unique_ptr<Engine>> create(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();  // starts the engine thread
  void stop();   // finishes in-flight requests with an error and joins the thread

  // Decodes and encodes one image (bytes of a PNG, JPEG, ...) into its embedding rows, on the calling thread with
  // the engine's vision thread pool; one image at a time (concurrent callers wait), so at most one decoded image is
  // in memory. Errors: vision is off (kUnsupported), the decoder's (corrupt, zero-sized or too large images:
  // kCorruptData / kOutOfRange, checked from the header before decoding pixels), kResourceExhausted when
  // queue_max images are already waiting for the encoder (each waiter holds an HTTP worker).
  Result<ImageEmbedding> encode_image(std::span<const uint8_t> bytes, const std::string& name);
  bool vision() const { return vision_ != nullptr; }
  int image_max_tokens() const { return image_max_tokens_; }
  const ImageTokenIds& image_token_ids() const { return image_ids_; }

  // One line per subsystem for the start-up log: model, slots, KV cache, speculation, vision.
  std::vector<std::string> describe() const;

  // Queues a request. Errors: kResourceExhausted when every slot is busy and the queue is full; kOutOfRange for a
  // prompt that does not fit the context (message names both numbers); kInvalidArgument for an empty prompt, an
  // id_slot out of range, or an image block longer than a prefill chunk may be (only with images made elsewhere
  // than encode_image, whose blocks always fit).
  Status submit(GenRequest request);

  const tokenizer::Tokenizer& tokenizer() const { return tokenizer_; }
  const model::TextModel& model() const { return *model_; }
  const EngineOptions& options() const { return options_; }
  std::string kv_description() const { return kv_description_; }
  bool speculating() const { return speculator_ != nullptr; }

  EngineMetrics metrics() const;
  std::vector<SlotInfo> slots() const;

  struct Slot;  // one sequence of the KV pool (engine_slot.h)

 private:
  Engine(EngineOptions options, std::unique_ptr<model::TextModel> model, tokenizer::Tokenizer tok);
  void run();
  void admit();
  void step();
  Status load_vision(const config::VisionOn& v);
  Status prefill_slot(Slot& s);
  void count_round(const Slot& s, int n_drafted, int n_accepted);
  Status speculate_slots(std::vector<Slot*>& active);
  Status verify_group(std::span<Slot*> group, std::span<const Draft> drafts);
  void flush_text(Slot& s);
  // Records a committed token; `row` is the logits row that predicted it (for the request's logprobs). Returns
  // false when the request finished.
  bool commit_token(Slot& s, int32_t token, std::span<const float> row);
  void finish(Slot& s, FinishReason reason);
  void fail(Slot& s, const Error& error);
  void release(Slot& s);
  void update_gauges();

  EngineOptions options_;
  std::unique_ptr<model::TextModel> model_;
  tokenizer::Tokenizer tokenizer_;
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<Speculator> speculator_;  // only for SpecMtp / SpecNgram (built from the config variant)
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<model::VisionModel> vision_;  // only with VisionOn
  std::unique_ptr<ThreadPool> vision_pool_;     // encode_image's pool (used by HTTP threads, not the engine thread)
  std::mutex vision_mu_;                        // one encode_image at a time
  std::atomic<int> vision_waiting_{0};          // encode_image calls running or waiting (at most queue_max + 1)
  ImageTokenIds image_ids_;
  int image_max_tokens_ = 0;
  int max_chunk_ = 0;  // most rows of one sequence in one forward (the KV pool's max_batch)
  std::vector<std::unique_ptr<Slot>> slots_;
  std::string kv_description_;
  std::vector<float> logits_, hidden_;

  mutable std::mutex mu_;  // guards queue_, metrics_, slot_infos_, stopping_
  std::condition_variable cv_;
  std::deque<GenRequest> queue_;
  EngineMetrics metrics_;
  std::vector<SlotInfo> slot_infos_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace specula::runtime
