// Engine::Slot: the per-slot state of the engine (internal to engine*.cpp).
#pragma once

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/timer.h"
#include "runtime/engine.h"
#include "runtime/sampler.h"
#include "runtime/stop_matcher.h"
#include "tokenizer/stream_detokenizer.h"

namespace specula::runtime {

inline constexpr uint64_t kSlotRngSalt = 0x5bd1e9955bd1e995ULL;

// One slot = one sequence (cache row) of the KV pool. `history` holds the committed tokens; history.back() sits at
// position `pos` and is not yet in the cache, whose entries [0, pos) are exactly history[0, pos) (the prompt cache
// reuses them across requests).
struct Engine::Slot {
  int id = 0;
  std::optional<GenRequest> req;
  std::optional<Sampler> sampler;
  std::optional<tokenizer::StreamDetokenizer> detok;
  std::optional<StopMatcher> matcher;
  std::vector<int32_t> history;
  std::vector<ImageSpan> image_spans;  // the image blocks of history (prompt-cache identity of soft tokens)
  std::vector<float> hidden;       // final-norm hidden of the row that produced history.back() (MTP)
  std::mt19937_64 rng;
  bool prefilling = false;
  int n_prefilled = 0;             // prompt positions already in the cache
  int32_t pos = 0;
  int n_generated = 0;
  int n_cached = 0;
  int n_drafted = 0, n_accepted = 0;
  std::optional<FinishReason> finished;
  std::string pending_text;
  std::vector<int32_t> pending_tokens;
  std::vector<TokenLogprobs> pending_logprobs;  // one per pending token when the request asked for logprobs
  Timer timer;
  double prompt_ms = 0;
};

}  // namespace specula::runtime
