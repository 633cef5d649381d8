// Speculative generation for one or more sequences batched together: prefill each prompt, then rounds of
// draft (any DraftSource: MTP assistant, n-gram lookup) -> verify the last committed token plus the drafts in one
// target batch (rows with consecutive positions, logits and hidden states for all of them) -> accept (greedy exact
// match or speculative sampling) -> roll back (KvCache::truncate to the committed length; the next verify writes
// from there). Drafters only ever see the committed entries [0, pos) of a sequence.
//
// With greedy samplers the output equals plain decoding token for token (ARCHITECTURE.md §3 rule 5): verify
// batches are split so that no forward call exceeds kernels::kDecodeBatchMax rows.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kv/kv_cache.h"
#include "model/text/text_model.h"
#include "runtime/sampler.h"
#include "runtime/speculative_drafter.h"

namespace specula::runtime {

struct SpecOptions {
  int n_draft = 3;               // drafts per round (the verify batch of a sequence is n_draft + 1 rows)
  int ubatch = 512;              // prefill chunk size (raised for an image block: prefill_chunk_end)
  int max_tokens = -1;           // per sequence; -1: until a stop or the context is full
  bool ignore_eos = false;
  std::vector<int32_t> stop_ids; // end-of-generation tokens
  bool record_rounds = false;    // keep one SpecRound per sequence and round (--spec-stats)
};

struct SpecRound {
  int sequence = 0;
  int drafted = 0;
  int accepted = 0;
};

struct SpecStats {
  int64_t n_rounds = 0;     // verify passes summed over sequences (prefills not counted)
  int64_t n_drafted = 0;
  int64_t n_accepted = 0;
  std::vector<int64_t> drafted_at;   // [i]: rounds that drafted at least i + 1 tokens
  std::vector<int64_t> accepted_at;  // [i]: rounds whose draft i + 1 was accepted
  std::vector<SpecRound> rounds;     // when SpecOptions::record_rounds

  void add(int sequence, int drafted, int accepted, bool record);
  double acceptance() const;       // accepted / drafted
  double mean_accepted() const;    // accepted drafts per round
  // Multi-line human summary: totals, acceptance per draft position.
  std::string summary() const;
};

struct SpecSequence {
  std::span<const int32_t> prompt;
  Sampler* sampler = nullptr;  // one per sequence (not owned)
  // Optional, empty or [prompt.size()]: a non-null entry is the input embedding of that prompt row (image soft
  // tokens, ForwardRow::embedding; the prompt holds the pad id there). Not owned; must outlive the call.
  std::span<const float* const> prompt_embeddings = {};
};

struct SpecSequenceResult {
  std::vector<int32_t> tokens;   // generated tokens (end-of-generation tokens included)
  bool context_full = false;
};

struct SpecResult {
  std::vector<SpecSequenceResult> sequences;
  SpecStats stats;
  int n_prompt = 0;      // prompt tokens of all sequences
  double prompt_s = 0;
  double generate_s = 0;
};

// Called with each committed token of sequence `sequence` (index into the span); return false to stop that one.
using SpecTokenCallback = std::function<bool(size_t sequence, int32_t token)>;

// Sequence i uses row i of `cache` from position 0. Errors: empty prompt, prompt longer than the cache, more
// sequences than cache rows, n_draft out of [1, 64), a bad token id, sampler or drafter failures.
Result<SpecResult> speculative_generate(ThreadPool& pool, model::TextModel& target, kv::KvCache& cache,
                                        std::span<const SpecSequence> sequences, DraftSource& drafter,
                                        const SpecOptions& options, const SpecTokenCallback& on_token);

}  // namespace specula::runtime
