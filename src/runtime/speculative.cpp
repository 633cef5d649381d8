// The speculative round loop (see speculative.h).
#include "runtime/speculative.h"

#include <algorithm>
#include <cstring>

#include "base/timer.h"
#include "kernels/ops.h"
#include "runtime/generate.h"
#include "runtime/speculative_accept.h"

namespace specula::runtime {
namespace {

constexpr uint64_t kRngSalt = 0x5eed5bec0a7e5a17ull;  // the speculation RNG differs from the sampler's own

struct SeqState {
  Sampler* sampler = nullptr;
  std::vector<int32_t> history;   // prompt + committed tokens; history.back() is at position pos
  int32_t pos = 0;
  std::vector<float> hidden;      // final-norm hidden state of the row that produced history.back()
  std::mt19937_64 rng;
  SpecSequenceResult result;
  bool done = false;
};

class Loop {
 public:
  Loop(ThreadPool& pool, model::TextModel& target, kv::KvCache& cache, DraftSource& drafter,
       const SpecOptions& options, const SpecTokenCallback& on_token)
      : pool_(pool), target_(target), cache_(cache), drafter_(drafter), options_(options), on_token_(on_token) {}

  Status prefill(size_t i, std::span<const int32_t> prompt, std::span<const float* const> embeddings, Sampler* sampler);
  Status round();
  bool any_active() const {
    return std::any_of(seqs_.begin(), seqs_.end(), [](const SeqState& s) { return !s.done; });
  }
  std::vector<SeqState>& seqs() { return seqs_; }
  SpecStats& stats() { return stats_; }

 private:
  bool commit(size_t i, int32_t token);
  int draft_budget(const SeqState& s) const;
  Status verify(std::span<const size_t> group, std::span<const Draft> drafts);

  ThreadPool& pool_;
  model::TextModel& target_;
  kv::KvCache& cache_;
  DraftSource& drafter_;
  const SpecOptions& options_;
  const SpecTokenCallback& on_token_;
  std::vector<SeqState> seqs_;
  SpecStats stats_;
};

// Records a committed token; false when the sequence ends with it (stop token, callback, token limit, context).
bool Loop::commit(size_t i, int32_t token) {
  SeqState& s = seqs_[i];
  s.history.push_back(token);
  s.result.tokens.push_back(token);
  const bool is_stop = std::find(options_.stop_ids.begin(), options_.stop_ids.end(), token) != options_.stop_ids.end();
  const int n = static_cast<int>(s.result.tokens.size());
  if (!on_token_(i, token) || (is_stop && !options_.ignore_eos) || (options_.max_tokens >= 0 && n >= options_.max_tokens)) {
    s.done = true;
    return false;
  }
  // The token will be written at the position after the previous last one.
  if (static_cast<int>(s.history.size()) - 1 >= cache_.n_ctx()) {
    s.result.context_full = true;
    s.done = true;
    return false;
  }
  return true;
}

// Prefills sequence i in chunks (as generate() does: image blocks of bidirectional models kept whole), then samples and commits the first token.
Status Loop::prefill(size_t i, std::span<const int32_t> prompt, std::span<const float* const> embeddings,
                     Sampler* sampler) {
  SeqState& s = seqs_.emplace_back();
  s.sampler = sampler;
  s.rng.seed(sampler->config().params().seed ^ kRngSalt);
  s.history.assign(prompt.begin(), prompt.end());
  const size_t n = prompt.size();
  const std::vector<int32_t> block_ends = prefill_block_ends(target_, embeddings);  // image blocks stay whole
  std::vector<float> logits(static_cast<size_t>(target_.vocab()));
  s.hidden.resize(static_cast<size_t>(target_.config().hidden));
  std::vector<model::ForwardRow> rows;
  for (size_t begin = 0, end = 0; begin < n; begin = end) {
    end = prefill_chunk_end(block_ends, begin, n, options_.ubatch);
    rows.clear();
    for (size_t p = begin; p < end; ++p) {
      const float* embedding = embeddings.empty() ? nullptr : embeddings[p];
      rows.push_back({prompt[p], static_cast<int32_t>(p), static_cast<int32_t>(i), embedding,
                      block_ends.empty() ? -1 : block_ends[p]});
    }
    const std::vector<int32_t> last = {static_cast<int32_t>(rows.size() - 1)};
    SPECULA_RETURN_IF_ERROR(target_.forward(pool_, cache_, rows, {last, logits.data(), s.hidden.data()}));
  }
  SPECULA_TRY(const int32_t token, sampler->sample(logits));
  sampler->accept(token);
  s.pos = static_cast<int32_t>(n);  // where the first generated token goes
  commit(i, token);
  return ok_status();
}

// Drafts this round: bounded by n_draft, the context (rows pos..pos+k must fit) and the token limit (the round
// commits at most k + 1 tokens).
int Loop::draft_budget(const SeqState& s) const {
  int k = options_.n_draft;
  k = std::min(k, cache_.n_ctx() - 1 - s.pos);
  if (options_.max_tokens >= 0) k = std::min(k, options_.max_tokens - static_cast<int>(s.result.tokens.size()) - 1);
  return std::max(k, 0);
}

// One target forward over the verify rows of the sequences in `group`, then acceptance per sequence.
Status Loop::verify(std::span<const size_t> group, std::span<const Draft> drafts) {
  std::vector<model::ForwardRow> rows;
  std::vector<size_t> first_row;
  for (const size_t i : group) {
    const SeqState& s = seqs_[i];
    first_row.push_back(rows.size());
    const auto seq = static_cast<int32_t>(i);
    rows.push_back({s.history.back(), s.pos, seq, nullptr});
    const auto& d = drafts[i].tokens;
    for (size_t j = 0; j < d.size(); ++j) rows.push_back({d[j], s.pos + 1 + static_cast<int32_t>(j), seq, nullptr});
  }
  const size_t v = static_cast<size_t>(target_.vocab());
  const size_t h = static_cast<size_t>(target_.config().hidden);
  std::vector<int32_t> all(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) all[r] = static_cast<int32_t>(r);
  std::vector<float> logits(rows.size() * v);
  std::vector<float> hidden(drafter_.needs_hidden() ? rows.size() * h : 0);
  SPECULA_RETURN_IF_ERROR(target_.forward(pool_, cache_, rows, {all, logits.data(),
                                                                 hidden.empty() ? nullptr : hidden.data()}));
  for (size_t g = 0; g < group.size(); ++g) {
    const size_t i = group[g];
    SeqState& s = seqs_[i];
    const Draft& d = drafts[i];
    const std::span<const float> rows_logits(logits.data() + first_row[g] * v, (d.tokens.size() + 1) * v);
    SPECULA_TRY(const AcceptOutcome o, accept_draft(*s.sampler, rows_logits, d, s.rng,
                                                    [&](int32_t t) { return commit(i, t); }));
    if (!d.tokens.empty()) stats_.add(static_cast<int>(i), static_cast<int>(d.tokens.size()), o.n_accepted,
                                      options_.record_rounds);
    s.pos += o.n_committed;
    // Roll back: the entries of rejected drafts (positions >= pos) are dropped; [0, pos) stay committed.
    SPECULA_RETURN_IF_ERROR(cache_.truncate(static_cast<int>(i), s.pos));
    if (!hidden.empty()) {
      const size_t r = first_row[g] + static_cast<size_t>(o.n_committed - 1);  // the row that produced history.back()
      std::memcpy(s.hidden.data(), hidden.data() + r * h, h * sizeof(float));
    }
  }
  return ok_status();
}

Status Loop::round() {
  std::vector<size_t> active;
  std::vector<DraftRequest> requests;
  std::vector<size_t> requesters;
  for (size_t i = 0; i < seqs_.size(); ++i) {
    SeqState& s = seqs_[i];
    if (s.done) continue;
    active.push_back(i);
    const int k = draft_budget(s);
    if (k == 0) continue;
    requests.push_back({static_cast<int32_t>(i), s.history, s.pos, s.hidden.data(), k, s.sampler, &s.rng});
    requesters.push_back(i);
  }
  std::vector<Draft> drafts(seqs_.size());
  if (!requests.empty()) {
    std::vector<Draft> out(requests.size());
    SPECULA_RETURN_IF_ERROR(drafter_.draft(pool_, cache_, requests, out));
    for (size_t r = 0; r < requests.size(); ++r) {
      Draft& d = out[r];
      if (static_cast<int>(d.tokens.size()) > requests[r].n_max) d.tokens.resize(static_cast<size_t>(requests[r].n_max));
      if (!d.q.empty()) d.q.resize(d.tokens.size());
      drafts[requesters[r]] = std::move(d);
    }
  }
  // Verify in groups of at most kDecodeBatchMax rows so that every row's result is batch invariant.
  std::vector<size_t> group;
  size_t n_rows = 0;
  for (const size_t i : active) {
    const size_t rows = drafts[i].tokens.size() + 1;
    if (n_rows + rows > static_cast<size_t>(kernels::kDecodeBatchMax) && !group.empty()) {
      SPECULA_RETURN_IF_ERROR(verify(group, drafts));
      group.clear();
      n_rows = 0;
    }
    group.push_back(i);
    n_rows += rows;
  }
  if (!group.empty()) SPECULA_RETURN_IF_ERROR(verify(group, drafts));
  return ok_status();
}

}  // namespace

Result<SpecResult> speculative_generate(ThreadPool& pool, model::TextModel& target, kv::KvCache& cache,
                                        std::span<const SpecSequence> sequences, DraftSource& drafter,
                                        const SpecOptions& options, const SpecTokenCallback& on_token) {
  if (options.n_draft < 1 || options.n_draft >= kernels::kDecodeBatchMax) {
    return make_error(ErrorCode::kInvalidArgument, "the draft size must be in [1, {}), got {}", kernels::kDecodeBatchMax,
                      options.n_draft);
  }
  if (sequences.size() > static_cast<size_t>(cache.n_seq())) {
    return make_error(ErrorCode::kInvalidArgument, "{} sequences but the cache holds {}", sequences.size(), cache.n_seq());
  }
  SpecResult result;
  for (const auto& s : sequences) {
    if (s.prompt.empty()) return make_error(ErrorCode::kInvalidArgument, "a prompt is empty (it needs at least a BOS token)");
    if (!s.prompt_embeddings.empty() && s.prompt_embeddings.size() != s.prompt.size()) {
      return make_error(ErrorCode::kInternal, "prompt embeddings and prompt differ in length");
    }
    if (static_cast<int>(s.prompt.size()) > cache.n_ctx()) {
      return make_error(ErrorCode::kOutOfRange, "a prompt has {} tokens but the context holds {}", s.prompt.size(),
                        cache.n_ctx());
    }
    result.n_prompt += static_cast<int>(s.prompt.size());
  }
  Loop loop(pool, target, cache, drafter, options, on_token);
  Timer timer;
  for (size_t i = 0; i < sequences.size(); ++i) {
    SPECULA_RETURN_IF_ERROR(loop.prefill(i, sequences[i].prompt, sequences[i].prompt_embeddings, sequences[i].sampler));
  }
  result.prompt_s = timer.elapsed_s();
  timer.reset();
  while (loop.any_active()) SPECULA_RETURN_IF_ERROR(loop.round());
  result.generate_s = timer.elapsed_s();
  for (auto& s : loop.seqs()) result.sequences.push_back(std::move(s.result));
  result.stats = std::move(loop.stats());
  return result;
}

}  // namespace specula::runtime
