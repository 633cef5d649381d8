// Single-sequence generation through a text model: chunked prefill, then one token per step sampled by a
// Sampler, until an end-of-generation token, the token limit, the context end, or the callback says stop.
// The speculative loop and the multi-slot scheduler build on the same model API; this is the plain path
// that `specula run` uses.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kv/simple_kv_cache.h"
#include "model/text/text_model.h"
#include "runtime/sampler.h"

namespace specula::runtime {

struct GenerateOptions {
  int ubatch = 512;            // prefill chunk size
  int max_tokens = -1;         // -1: until a stop or the context is full
  bool ignore_eos = false;     // end-of-generation tokens do not stop
  std::vector<int32_t> stop_ids;  // end-of-generation tokens
};

struct GenerateStats {
  int n_prompt = 0;
  int n_generated = 0;
  double prompt_s = 0;
  double generate_s = 0;
  bool context_full = false;   // stopped because the cache has no room left
};

// Called with each generated token (end-of-generation tokens included); return false to stop.
using TokenCallback = std::function<bool(int32_t token)>;

// Runs the prompt (sequence 0 of `cache`, from position 0) and generates. `prompt_embeddings`, when not empty,
// has one entry per prompt position: an embedding row [hidden] that replaces that token's embedding (image soft
// tokens), or nullptr. Errors: an empty prompt, a prompt longer than the cache, a bad token id, a sampler failure.
Result<GenerateStats> generate(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache,
                               std::span<const int32_t> prompt, Sampler& sampler, const GenerateOptions& options,
                               const TokenCallback& on_token, std::span<const float* const> prompt_embeddings = {});

}  // namespace specula::runtime
