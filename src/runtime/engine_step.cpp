// The decode half of the engine step: drafting (when speculating), verify batches of at most kDecodeBatchMax rows
// (batch invariant, so a request's greedy tokens do not depend on the other slots), acceptance and roll-back; and
// the end of a request (finish, failure, release).
#include <algorithm>
#include <cstring>

#include "base/check.h"
#include "base/log.h"
#include "kernels/ops.h"
#include "runtime/engine.h"
#include "runtime/engine_slot.h"
#include "runtime/speculative_accept.h"

namespace specula::runtime {
namespace {

// Drafts this round: bounded by the draft size, the context (rows pos..pos+k must fit) and the token limit.
int draft_budget(const Engine::Slot& s, int n_draft, int n_ctx) {
  int k = std::min(n_draft, n_ctx - 1 - s.pos);
  const int max_tokens = s.req->stop.max_tokens();
  if (max_tokens >= 0) k = std::min(k, max_tokens - s.n_generated - 1);
  return std::max(k, 0);
}

}  // namespace

Status Engine::speculate_slots(std::vector<Slot*>& active) {
  std::vector<Draft> drafts(active.size());
  if (speculator_) {
    std::vector<DraftRequest> requests;
    std::vector<size_t> who;
    for (size_t i = 0; i < active.size(); ++i) {
      Slot& s = *active[i];
      const int k = draft_budget(s, speculator_->n_draft(), options_.n_ctx);
      if (k == 0) continue;
      requests.push_back({s.id, s.history, s.pos, s.hidden.empty() ? nullptr : s.hidden.data(), k, &*s.sampler,
                          &s.rng});
      who.push_back(i);
    }
    if (!requests.empty()) {
      std::vector<Draft> out(requests.size());
      SPECULA_RETURN_IF_ERROR(speculator_->source().draft(*pool_, *cache_, requests, out));
      for (size_t r = 0; r < requests.size(); ++r) {
        Draft& d = out[r];
        if (static_cast<int>(d.tokens.size()) > requests[r].n_max) d.tokens.resize(static_cast<size_t>(requests[r].n_max));
        if (!d.q.empty()) d.q.resize(d.tokens.size());
        drafts[who[r]] = std::move(d);
      }
    }
  }
  size_t begin = 0;
  while (begin < active.size()) {  // groups of at most kDecodeBatchMax rows
    size_t end = begin, n_rows = 0;
    while (end < active.size() &&
           (end == begin || n_rows + drafts[end].tokens.size() + 1 <= static_cast<size_t>(kernels::kDecodeBatchMax))) {
      n_rows += drafts[end].tokens.size() + 1;
      ++end;
    }
    SPECULA_RETURN_IF_ERROR(verify_group(std::span(active).subspan(begin, end - begin),
                                         std::span(drafts).subspan(begin, end - begin)));
    begin = end;
  }
  return ok_status();
}

// One target forward over [last committed token, drafts...] of every slot in the group, then acceptance per slot.
Status Engine::verify_group(std::span<Slot*> group, std::span<const Draft> drafts) {
  std::vector<model::ForwardRow> rows;
  std::vector<size_t> first_row;
  for (size_t g = 0; g < group.size(); ++g) {
    const Slot& s = *group[g];
    first_row.push_back(rows.size());
    rows.push_back({s.history.back(), s.pos, s.id, nullptr});
    const auto& d = drafts[g].tokens;
    for (size_t j = 0; j < d.size(); ++j) rows.push_back({d[j], s.pos + 1 + static_cast<int32_t>(j), s.id, nullptr});
  }
  const size_t v = static_cast<size_t>(model_->vocab());
  const size_t h = static_cast<size_t>(model_->config().hidden);
  const bool want_hidden = speculator_ && speculator_->source().needs_hidden();
  std::vector<int32_t> all(rows.size());
  for (size_t r = 0; r < rows.size(); ++r) all[r] = static_cast<int32_t>(r);
  std::vector<float> logits(rows.size() * v);
  hidden_.resize(want_hidden ? rows.size() * h : 0);
  SPECULA_RETURN_IF_ERROR(model_->forward(*pool_, *cache_, rows, {all, logits.data(),
                                                                   want_hidden ? hidden_.data() : nullptr}));
  for (size_t g = 0; g < group.size(); ++g) {
    Slot& s = *group[g];
    const Draft& d = drafts[g];
    const std::span<const float> row_logits(logits.data() + first_row[g] * v, (d.tokens.size() + 1) * v);
    // The i-th token committed this round is predicted by row i (accept_draft samples row i for it, whether it
    // accepts draft i or replaces it), so its logprobs come from that row.
    size_t n_commits = 0;
    const auto commit = [&](int32_t t) {
      SPECULA_CHECK(n_commits <= d.tokens.size(), "more commits than verify rows");
      return commit_token(s, t, row_logits.subspan(n_commits++ * v, v));
    };
    SPECULA_TRY(const AcceptOutcome o, accept_draft(*s.sampler, row_logits, d, s.rng, commit));
    s.n_drafted += static_cast<int>(d.tokens.size());
    s.n_accepted += o.n_accepted;
    if (!d.tokens.empty()) count_round(s, static_cast<int>(d.tokens.size()), o.n_accepted);
    s.pos += o.n_committed;
    SPECULA_RETURN_IF_ERROR(cache_->truncate(s.id, s.pos));  // drop the entries of rejected drafts
    if (want_hidden) {
      const size_t r = first_row[g] + static_cast<size_t>(o.n_committed - 1);
      s.hidden.resize(h);
      std::memcpy(s.hidden.data(), hidden_.data() + r * h, h * sizeof(float));
    }
    if (s.finished) {
      finish(s, *s.finished);
    } else {
      flush_text(s);
    }
  }
  return ok_status();
}

void Engine::count_round(const Slot& s, int n_drafted, int n_accepted) {
  std::lock_guard lock(mu_);
  SpecCounters& c = s.req->has_images() ? metrics_.spec_image : metrics_.spec_text;
  const auto k = static_cast<size_t>(n_drafted);
  if (c.drafted_by_pos.size() < k) {
    c.drafted_by_pos.resize(k);
    c.accepted_by_pos.resize(k);
  }
  c.drafted += n_drafted;
  c.accepted += n_accepted;
  metrics_.drafted += n_drafted;
  metrics_.accepted += n_accepted;
  for (size_t i = 0; i < k; ++i) c.drafted_by_pos[i] += 1;
  for (size_t i = 0; i < static_cast<size_t>(n_accepted); ++i) c.accepted_by_pos[i] += 1;
}

void Engine::flush_text(Slot& s) {
  if (s.pending_text.empty() && s.pending_tokens.empty()) return;
  RequestEvent e;
  e.text = std::move(s.pending_text);
  e.tokens = std::move(s.pending_tokens);
  e.logprobs = std::move(s.pending_logprobs);
  s.pending_text.clear();
  s.pending_tokens.clear();
  s.pending_logprobs.clear();
  s.req->channel->push(std::move(e));
}

void Engine::finish(Slot& s, FinishReason reason) {
  if (!s.matcher->stopped()) {
    s.pending_text += s.matcher->feed(s.detok->finish()).text;
    s.pending_text += s.matcher->finish();
  }
  flush_text(s);
  RequestEvent done;
  done.kind = RequestEvent::Kind::kDone;
  done.finish = reason;
  RequestUsage& u = done.usage;
  u.n_prompt = static_cast<int>(s.req->prompt.size());
  u.n_cached = s.n_cached;
  u.n_generated = s.n_generated;
  u.prompt_ms = s.prompt_ms;
  u.generate_ms = s.timer.elapsed_ms();
  u.n_drafted = s.n_drafted;
  u.n_accepted = s.n_accepted;
  u.slot = s.id;
  u.stopped_by_word = s.matcher->stopped();
  {
    std::lock_guard lock(mu_);
    metrics_.prompt_tokens += u.n_prompt - u.n_cached;
    metrics_.prompt_seconds += u.prompt_ms / 1e3;
    metrics_.generated_tokens += u.n_generated;
    metrics_.generate_seconds += u.generate_ms / 1e3;
    metrics_.requests_total += 1;
    metrics_.image_requests += s.req->has_images() ? 1 : 0;
  }
  log::info("slot {}: {} prompt tokens ({} cached) in {:.1f} ms, {} generated in {:.1f} ms, finish {}{}", s.id,
            u.n_prompt, u.n_cached, u.prompt_ms, u.n_generated, u.generate_ms, finish_reason_name(reason),
            u.n_drafted > 0 ? fmt::format(", drafts {}/{} accepted", u.n_accepted, u.n_drafted) : std::string());
  s.req->channel->push(std::move(done));
  release(s);
}

void Engine::fail(Slot& s, const Error& error) {
  RequestEvent e;
  e.kind = RequestEvent::Kind::kError;
  e.error = error;
  s.req->channel->push(std::move(e));
  // The cache state of a failed request is unknown: forget everything the slot held.
  SPECULA_CHECK(cache_->truncate(s.id, 0).ok());
  s.history.clear();
  s.image_spans.clear();
  s.pos = 0;
  s.prefilling = false;
  release(s);
}

// Frees the slot; the cache keeps the committed entries [0, pos) for prompt reuse (history is trimmed to them).
void Engine::release(Slot& s) {
  if (s.prefilling) {
    s.history.resize(static_cast<size_t>(s.n_prefilled));
    s.pos = s.n_prefilled;
    s.prefilling = false;
  } else {
    s.history.resize(static_cast<size_t>(std::max(s.pos, 0)));
  }
  if (!cache_->truncate(s.id, s.pos).ok()) {
    SPECULA_CHECK(cache_->truncate(s.id, 0).ok());
    s.history.clear();
    s.image_spans.clear();
    s.pos = 0;
  }
  s.req.reset();
  s.sampler.reset();
  s.detok.reset();
  s.matcher.reset();
  s.pending_text.clear();
  s.pending_tokens.clear();
  s.pending_logprobs.clear();
  s.hidden.clear();
}

void Engine::update_gauges() {
  std::lock_guard lock(mu_);
  int processing = 0;
  int64_t used = 0;
  for (const auto& sp : slots_) {
    const Slot& s = *sp;
    SlotInfo& info = slot_infos_[static_cast<size_t>(s.id)];
    info.processing = s.req.has_value();
    info.n_past = s.prefilling ? s.n_prefilled : s.pos;
    info.n_prompt = s.req ? static_cast<int>(s.req->prompt.size()) : 0;
    info.n_generated = s.n_generated;
    processing += info.processing;
    used += info.n_past;
  }
  metrics_.requests_processing = processing;
  metrics_.kv_used_cells = used;
}

}  // namespace specula::runtime
