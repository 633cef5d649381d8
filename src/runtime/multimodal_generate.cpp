#include "runtime/multimodal_generate.h"

namespace specula::runtime {

Result<GenerateStats> generate_multimodal(ThreadPool& pool, model::TextModel& model, kv::KvCache& cache,
                                          const MultimodalPrompt& prompt, Sampler& sampler,
                                          const GenerateOptions& options, const TokenCallback& on_token) {
  return generate(pool, model, cache, prompt.tokens, sampler, options, on_token, prompt.embeddings);
}

}  // namespace specula::runtime
