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
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/sampler_config.h"
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

struct GenRequest {
  std::vector<int32_t> prompt;       // full prompt (BOS included when the vocabulary adds one)
  SamplerConfig sampler;
  StopConfig stop;
  int id_slot = -1;                  // -1: any free slot (the one whose cache shares the longest prefix)
  bool cache_prompt = true;          // reuse the slot's cached prefix
  bool strip_leading_space = true;   // detokenizer option for the first generated token
  std::shared_ptr<RequestChannel> channel;
};

}  // namespace specula::runtime
