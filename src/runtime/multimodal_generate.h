// Single-sequence generation from a prompt with images (runtime::generate's loop with embedding rows in the
// prefill). Speculative generation takes the same rows through SpecSequence::prompt_embeddings.
#pragma once

#include "runtime/generate.h"
#include "runtime/multimodal.h"

namespace specula::runtime {

// Prefills prompt (sequence 0, from position 0; image rows as embeddings) in chunks of options.ubatch, then
// samples as generate() does. Errors as generate().
Result<GenerateStats> generate_multimodal(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache,
                                          const MultimodalPrompt& prompt, Sampler& sampler,
                                          const GenerateOptions& options, const TokenCallback& on_token);

}  // namespace specula::runtime
