// KV-cache quality: the same text through the model with a baseline cache (f16 by default) and with a test
// cache, chunked and scored as runtime/perplexity.h does (llama.cpp's method), comparing the next-token
// distributions of every scored position: KL(base || test), top-1 agreement, and both perplexities.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "kv/cache_types.h"
#include "model/text/text_model.h"
#include "runtime/perplexity.h"

namespace specula::runtime {

struct KlOptions {
  int n_ctx = 512;
  int ubatch = 512;
  int max_chunks = -1;  // -1: all chunks the text holds
  int recent = kv::kDefaultRecentWindow;  // the test cache's recent window (block-quantized types)
  int sink = kv::kDefaultSinkPositions;   // the test cache's sink positions (with the window)
  kv::CacheTypes base{kv::KvType::kF16, kv::KvType::kF16};
  kv::CacheTypes test{kv::KvType::kF16, kv::KvType::kF16};
  // Matmul activation precision of each pass (set process-wide around the pass; see kernels/ops.h).
  kernels::cpu::ActPrecision base_activations = kernels::cpu::ActPrecision::kInt8;
  kernels::cpu::ActPrecision test_activations = kernels::cpu::ActPrecision::kInt8;
};

struct KlResult {
  PerplexityResult base;
  PerplexityResult test;
  std::vector<double> kl;  // KL(base || test) in nats, per scored token
  int n_top1_same = 0;
  size_t cache_bytes_base = 0;
  size_t cache_bytes_test = 0;
  double mean_kl() const;
  double mean_kl_error() const;    // standard error of the mean
  double quantile_kl(double q) const;  // q in [0, 1] (nearest rank)
  double top1_agreement() const;   // fraction of scored tokens with the same argmax
};

// tokens: the whole tokenized text, BOS first. Leaves the process-wide activation precision at the test pass's. Errors: as perplexity(), and cache creation errors (a type
// that cannot store a layer's head dim, memory).
Result<KlResult> kl_divergence(ThreadPool& pool, model::TextModel& model, std::span<const int32_t> tokens, int32_t bos,
                               const KlOptions& options, const ChunkCallback& on_chunk);

// Log-softmax of one logits row, double precision, max-subtracted.
void log_softmax(std::span<const float> logits, std::vector<double>& out);

}  // namespace specula::runtime
