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

// Image blocks of a prompt (gemma4-spec.md §1.12): the runs of consecutive non-null embedding rows (soft
// tokens; two images are always separated by their <image|> <|image> text tokens). Per position, the last
// position of its block (ForwardRow::block_end), -1 for token rows. Empty when embeddings is empty.
std::vector<int32_t> image_block_ends(std::span<const float* const> embeddings);
// The block ends a prefill of `model` must respect: image_block_ends when the model attends bidirectionally
// inside image blocks, else empty (causal models may split blocks freely).
std::vector<int32_t> prefill_block_ends(const model::TextModel& model, std::span<const float* const> embeddings);

// The end (exclusive) of the prefill chunk that starts at `begin` of positions [0, n): begin + ubatch, except
// that an image block of `block_ends` (empty: none) is never split: a chunk that would end inside a block ends
// before the block, and a chunk that starts with a block takes all of it, even when the block is longer than
// ubatch (logged once per such chunk). Chunks made this way have at most max_prefill_chunk rows.
size_t prefill_chunk_end(std::span<const int32_t> block_ends, size_t begin, size_t n, int ubatch);
// max(ubatch, the longest block): what KvPoolOptions::max_batch must allow for the prefill.
int max_prefill_chunk(std::span<const int32_t> block_ends, int ubatch);

// Runs the prompt (sequence 0 of `cache`, from position 0) and generates. `prompt_embeddings`, when not empty,
// has one entry per prompt position: an embedding row [hidden] that replaces that token's embedding (image soft
// tokens), or nullptr; the prefill chunks never split an image block of a bidirectional model (see
// prefill_chunk_end; a KvPool cache needs max_batch >= max_prefill_chunk). Errors: an empty prompt, a prompt longer than the cache, a bad token id, a sampler failure.
Result<GenerateStats> generate(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache,
                               std::span<const int32_t> prompt, Sampler& sampler, const GenerateOptions& options,
                               const TokenCallback& on_token, std::span<const float* const> prompt_embeddings = {});

}  // namespace specula::runtime
