// The Gemma 4 MTP assistant as a drafter (gemma4-spec.md §3): one draft step per sequence, reading the target's
// token embedding and the K/V of its last KV-owning sliding and full layers. The assistant has no KV of its own;
// the only state between steps is (token, h), which the caller keeps per sequence.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/result.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "kv/kv_cache.h"
#include "model/mtp/assistant_config.h"
#include "model/mtp/assistant_weights.h"
#include "model/text/text_model.h"

namespace specula::model {

// Where the drafter reads the target's K/V: the cache slots of the target's last KV-owning sliding and full
// layers (-1 when the assistant does not read that type), read through kv::KvCache::attention.
struct TargetKvSlots {
  int sliding = -1;
  int full = -1;
};

// One draft step of one sequence.
struct DraftStepRow {
  int32_t token = 0;        // the last token: committed (step 0) or the previous step's draft
  const float* h = nullptr; // [Hb]: the target's final-norm hidden state of the row that produced the committed
                            // token (step 0), then the previous step's h_next
  int32_t pos = 0;          // position of the committed last token (the same for every step of a round)
  int32_t seq = 0;          // sequence (cache row)
  int32_t kv_len = 0;       // the drafter sees entries [0, kv_len) (the committed ones, normally == pos):
                            // full layers all of them, sliding layers the last W_a + 1 (§3.3)
};

struct DraftStepOutput {
  float* logits = nullptr;    // optional [n, V]: final norm, then the LM head (no soft-cap)
  int32_t* argmax = nullptr;  // optional [n]: greedy draft (lowest id on ties)
  float* h_next = nullptr;    // optional [n, Hb]: post_projection output, the next step's h
};

class MtpDrafter {
 public:
  // Loads an assistant GGUF and checks it against the target (which must outlive the drafter).
  // Errors: unreadable file, not a gemma4-assistant, bad tensors, incompatible with the target (both values named).
  static Result<std::unique_ptr<MtpDrafter>> load(const std::string& path, const TextModel& target);

  const AssistantConfig& config() const { return config_; }
  bool centroid_head() const { return weights_.has_centroids; }
  int vocab() const { return config_.vocab; }
  int backbone() const { return config_.backbone; }
  // Cache slots of the target's source layers (what step() reads from the target's cache).
  TargetKvSlots target_slots() const { return slots_; }

  // One step for each row (rows of different sequences; at most one row per sequence). Reads the target's
  // K/V from `cache` at `slots`. Errors: kv_len outside [1, cache context], bad token or sequence ids.
  Status step(ThreadPool& pool, const kv::KvCache& cache, TargetKvSlots slots, std::span<const DraftStepRow> rows,
              const DraftStepOutput& out) const;

  // The same from explicit inputs: inputs [n, 2*Hb] = concat(target embedding * sqrt(Hb), h) per row (the token
  // and h fields of `rows` are ignored). For reference tests that feed the exact transformers inputs.
  Status step_inputs(ThreadPool& pool, const kv::KvCache& cache, TargetKvSlots slots,
                     std::span<const DraftStepRow> rows, const float* inputs, const DraftStepOutput& out) const;

  // Weight bytes read by one draft step of one row (assistant matrices, its head, one target embedding row).
  uint64_t weight_bytes_per_step() const;

  struct Scratch;  // activation buffers of one step (mtp_forward.cpp)

 private:
  MtpDrafter(format::GgufFile file, AssistantConfig config, const TextModel& target)
      : file_(std::move(file)), config_(std::move(config)), target_(&target) {}
  Status check_rows(const kv::KvCache& cache, TargetKvSlots slots, std::span<const DraftStepRow> rows,
                    bool check_tokens) const;
  void layer_forward(ThreadPool& pool, const kv::KvCache& cache, TargetKvSlots slots, int i,
                     std::span<const DraftStepRow> rows, Scratch& s) const;
  void head(ThreadPool& pool, const float* xn, size_t n, float* logits) const;

  format::GgufFile file_;
  AssistantConfig config_;
  AssistantWeights weights_;
  const TextModel* target_;  // not owned; supplies the input embedding
  TargetKvSlots slots_;
};

}  // namespace specula::model
