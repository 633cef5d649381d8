#include "runtime/engine.h"
#include "runtime/engine_slot.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "base/check.h"
#include "base/log.h"
#include "base/timer.h"
#include "kernels/ops.h"
#include "kv/kv_pool.h"
#include "runtime/sampler.h"
#include "runtime/speculative_accept.h"
#include "runtime/stop_matcher.h"
#include "tokenizer/stream_detokenizer.h"

namespace specula::runtime {

namespace {

// The end of the prefill chunk that starts at `start`: at most ubatch rows, except that an image block (<|image>
// .. <image|>) is never split: a chunk stops before a block that does not fit, and a chunk that starts with a block
// takes the whole block even when it is longer than ubatch (bidirectional image attention needs all of it in one
// forward; for causal models it is merely harmless).
int chunk_end(const GenRequest& r, int start, int ubatch) {
  const int n = static_cast<int>(r.prompt.size());
  int end = std::min(n, start + std::max(ubatch, 1));
  for (const ImageSpan& sp : r.image_spans) {
    const int boi = sp.begin - 1, after = sp.begin + sp.n_tokens + 1;
    if (boi < end && end < after) return boi > start ? boi : std::min(after, n);
  }
  return end;
}

// glibc keeps freed memory of its malloc arenas mapped: without a trim, the request bodies, decoded images and
// encoder activations of a burst of image requests stay resident afterwards (measured: RSS 50 -> 140 MiB after a
// few bursts of 8 concurrent two-image requests). malloc_trim returns free pages of every arena; it takes about a
// millisecond, and runs only after an image encode and once when the engine has been idle for kTrimAfterIdleMs.
constexpr double kTrimAfterIdleMs = 200;

void release_free_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace

Engine::Engine(EngineOptions options, std::unique_ptr<model::TextModel> model, tokenizer::Tokenizer tok)
    : options_(std::move(options)), model_(std::move(model)), tokenizer_(std::move(tok)) {}

Engine::~Engine() { stop(); }

Result<std::unique_ptr<Engine>> Engine::create(const EngineOptions& options) {
  SPECULA_TRY(auto model, model::TextModel::load(options.model_path));
  if (model->file().find("tokenizer.ggml.model") == nullptr) {
    return make_error(ErrorCode::kUnsupported, "{}: the model has no tokenizer (tokenizer.ggml.* keys)",
                      options.model_path);
  }
  SPECULA_TRY(auto tok, tokenizer::Tokenizer::from_gguf(model->file()));
  std::unique_ptr<Engine> e(new Engine(options, std::move(model), std::move(tok)));
  if (!std::holds_alternative<config::SpecOff>(options.spec)) {
    SPECULA_TRY(e->speculator_, Speculator::create(options.spec, *e->model_));
  }
  kv::KvPoolOptions kv;
  kv.type_k = options.cache_types.k;
  kv.type_v = options.cache_types.v;
  kv.n_ctx = options.n_ctx;
  kv.n_seq = options.n_parallel;
  kv.max_batch = std::max(options.ubatch, 1 + config::draft_tokens(options.spec));
  if (const auto* v = std::get_if<config::VisionOn>(&options.vision)) {
    SPECULA_RETURN_IF_ERROR(e->load_vision(*v));
    kv.max_batch = std::max(kv.max_batch, e->image_max_tokens_ + 2);  // a whole image block in one chunk
  }
  e->max_chunk_ = kv.max_batch;
  SPECULA_TRY(e->cache_, e->model_->make_kv_cache(kv));
  if (const auto* pool = dynamic_cast<const kv::KvPool*>(e->cache_.get())) {
    e->kv_description_ = pool->describe();
  } else {
    e->kv_description_ = fmt::format("f32 reference cache, {} MiB", e->cache_->bytes() >> 20);
  }
  e->pool_ = std::make_unique<ThreadPool>(options.threads);
  for (int i = 0; i < options.n_parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->id = i;
    e->slots_.push_back(std::move(s));
  }
  e->slot_infos_.resize(static_cast<size_t>(options.n_parallel));
  for (int i = 0; i < options.n_parallel; ++i) e->slot_infos_[static_cast<size_t>(i)].id = i;
  e->metrics_.kv_total_cells = int64_t{options.n_ctx} * options.n_parallel;
  e->logits_.resize(static_cast<size_t>(e->model_->vocab()));
  return e;
}

Status Engine::load_vision(const config::VisionOn& v) {
  auto vision = model::VisionModel::load(v.mmproj_path);
  if (!vision.ok()) return vision.error().with_context("--mmproj " + v.mmproj_path);
  vision_ = std::move(vision.value());
  // Sets the text model's image attention (bidirectional for 26B/31B-class pairs) and checks the widths.
  if (Status st = bind_vision_to_text(*vision_, *model_); !st.ok()) {
    return st.error().with_context("--mmproj " + v.mmproj_path);
  }
  SPECULA_TRY(image_ids_, runtime::image_token_ids(model_->file()));
  image_max_tokens_ = v.image_max_tokens > 0 ? v.image_max_tokens : kDefaultImageMaxTokens;
  if (!valid_max_soft_tokens(image_max_tokens_)) {
    return make_error(ErrorCode::kInvalidArgument, "--image-max-tokens must be 70, 140, 280, 560 or 1120, got {}",
                      image_max_tokens_);
  }
  vision_pool_ = std::make_unique<ThreadPool>(options_.threads);
  return ok_status();
}

Result<ImageEmbedding> Engine::encode_image(std::span<const uint8_t> bytes, const std::string& name) {
  if (!vision_) return make_error(ErrorCode::kUnsupported, "images need a server started with --mmproj");
  // Each waiting image holds an HTTP worker: bound the waiters as the request queue is bounded.
  if (vision_waiting_.fetch_add(1) >= options_.queue_max + 1) {
    vision_waiting_.fetch_sub(1);
    return make_error(ErrorCode::kResourceExhausted, "the image encoder is busy ({} images waiting); retry later",
                      options_.queue_max);
  }
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { n.fetch_sub(1); }
  } leave{vision_waiting_};
  std::lock_guard lock(vision_mu_);
  Timer timer;
  SPECULA_TRY(const RgbImage image, decode_image(bytes, name));
  auto out = embed_image(*vision_pool_, *vision_, image, image_max_tokens_);
  if (!out.ok()) return out.error().with_context(name);
  release_free_memory();  // the decoded image and the encoder's activations (megabytes) are free now
  std::lock_guard metrics_lock(mu_);
  metrics_.images_encoded += 1;
  metrics_.image_encode_seconds += timer.elapsed_ms() / 1e3;
  return out;
}

std::vector<std::string> Engine::describe() const {
  const auto& c = model_->config();
  std::vector<std::string> lines;
  lines.push_back(fmt::format("text model: {}: {} layers, hidden {}, vocab {}, sliding window {}", options_.model_path,
                              c.n_layers, c.hidden, c.vocab, c.sliding_window));
  lines.push_back(fmt::format("slots: {} x {} tokens, prefill chunk {} (image blocks are never split), {} threads",
                              options_.n_parallel, options_.n_ctx, options_.ubatch, options_.threads));
  lines.push_back(fmt::format("kv pool: {}", kv_description_));
  std::string spec = "off";
  if (const auto* m = std::get_if<config::SpecMtp>(&options_.spec)) {
    spec = fmt::format("mtp: n_draft={}, centroid head: {}", m->n_draft,
                       speculator_->drafter() && speculator_->drafter()->centroid_head() ? "yes" : "no");
  } else if (const auto* g = std::get_if<config::SpecNgram>(&options_.spec)) {
    spec = fmt::format("ngram: n_draft={}, n-gram {}..{}", g->n_draft, g->ngram_min, g->ngram_max);
  }
  lines.push_back("speculator: " + spec);
  if (vision_) {
    lines.push_back(fmt::format("vision model: gemma4v, {} tokens/image, encoder hidden {} x {} layers, {} image attention",
                                image_max_tokens_, vision_->config().hidden, vision_->config().n_layers,
                                image_attention_bidirectional(model_->file(), vision_->config()) ? "bidirectional"
                                                                                                : "causal"));
  }
  if (speculator_) lines.push_back("speculative decoding active on all slots (text and image requests)");
  return lines;
}

void Engine::start() { thread_ = std::thread([this] { run(); }); }

void Engine::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Engine::submit(GenRequest request) {
  const int n = static_cast<int>(request.prompt.size());
  if (n == 0) return make_error(ErrorCode::kInvalidArgument, "the prompt is empty");
  if (n >= options_.n_ctx) {
    return make_error(ErrorCode::kOutOfRange, "the request exceeds the available context size: {} prompt tokens, "
                      "context {} tokens", n, options_.n_ctx);
  }
  for (const ImageSpan& sp : request.image_spans) {
    if (sp.n_tokens + 2 > max_chunk_) {
      return make_error(ErrorCode::kInvalidArgument, "an image block of {} tokens does not fit one prefill chunk of "
                        "at most {} rows", sp.n_tokens + 2, max_chunk_);
    }
  }
  if (request.id_slot < -1 || request.id_slot >= options_.n_parallel) {
    return make_error(ErrorCode::kInvalidArgument, "id_slot must be -1 or in [0, {}), got {}", options_.n_parallel,
                      request.id_slot);
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) return make_error(ErrorCode::kResourceExhausted, "the server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.queue_max) {
      return make_error(ErrorCode::kResourceExhausted, "all {} slots are busy and {} requests are waiting; retry later",
                        options_.n_parallel, queue_.size());
    }
    queue_.push_back(std::move(request));
    metrics_.requests_deferred = static_cast<int>(queue_.size());
  }
  cv_.notify_all();
  return ok_status();
}

EngineMetrics Engine::metrics() const {
  std::lock_guard lock(mu_);
  return metrics_;
}

std::vector<SlotInfo> Engine::slots() const {
  std::lock_guard lock(mu_);
  return slot_infos_;
}

void Engine::run() {
  bool trim_pending = false;  // busy since the last trim
  Timer idle;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) break;
    }
    admit();
    const bool any = std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->req.has_value(); });
    if (!any) {
      // Idle for a while (the HTTP threads have sent their responses and freed the request bodies by then).
      if (trim_pending && idle.elapsed_ms() > kTrimAfterIdleMs) {
        release_free_memory();
        trim_pending = false;
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_ || !queue_.empty(); });
      continue;
    }
    trim_pending = true;
    step();
    update_gauges();
    idle.reset();
  }
  const Error bye(ErrorCode::kResourceExhausted, "the server is shutting down");
  for (auto& s : slots_) {
    if (s->req) fail(*s, bye);
  }
  std::lock_guard lock(mu_);
  for (auto& r : queue_) r.channel->push({RequestEvent::Kind::kError, {}, {}, {}, FinishReason::kStop, {}, bye});
  queue_.clear();
}

// Moves queued requests into free slots: a request naming id_slot waits for that slot; otherwise the free slot
// whose cached tokens share the longest prefix with the prompt is taken (ties: the lowest id).
void Engine::admit() {
  std::vector<GenRequest> taken;
  std::vector<Slot*> where;
  std::vector<size_t> reuse;
  {
    std::lock_guard lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end();) {
      Slot* best = nullptr;
      size_t best_lcp = 0;
      const auto keys = position_keys(it->prompt, it->image_spans);
      for (auto& s : slots_) {
        const bool reserved = std::find(where.begin(), where.end(), s.get()) != where.end();
        if (s->req || reserved || (it->id_slot >= 0 && s->id != it->id_slot)) continue;
        // Cached entries [0, pos) equal history[0, pos); keep the common prefix, but always recompute at least the
        // last prompt token (its logits start generation).
        const size_t limit = std::min(it->prompt.size() - 1, static_cast<size_t>(std::max(s->pos, 0)));
        const size_t lcp = it->cache_prompt ? reusable_prefix(position_keys(s->history, s->image_spans), keys,
                                                              it->image_spans, limit) : 0;
        if (best == nullptr || lcp > best_lcp) {
          best = s.get();
          best_lcp = lcp;
        }
      }
      if (best == nullptr) {
        ++it;
        continue;
      }
      taken.push_back(std::move(*it));
      where.push_back(best);
      reuse.push_back(best_lcp);
      it = queue_.erase(it);
    }
    metrics_.requests_deferred = static_cast<int>(queue_.size());
  }
  for (size_t i = 0; i < taken.size(); ++i) {
    Slot& s = *where[i];
    GenRequest& r = taken[i];
    size_t keep = reuse[i];
    if (!cache_->truncate(s.id, static_cast<int>(keep)).ok()) {
      keep = 0;
      SPECULA_CHECK(cache_->truncate(s.id, 0).ok());
    }
    s.sampler.emplace(r.sampler);
    s.rng.seed(r.sampler.params().seed ^ kSlotRngSalt);
    s.detok.emplace(tokenizer_, tokenizer::DetokenizeOptions{.render_special = false,
                                                             .strip_leading_space = r.strip_leading_space});
    s.matcher.emplace(r.stop.stop());
    s.history = r.prompt;
    s.image_spans = r.image_spans;
    s.prefilling = true;
    s.n_prefilled = static_cast<int>(keep);
    s.n_cached = static_cast<int>(keep);
    s.pos = static_cast<int32_t>(keep);
    s.n_generated = s.n_drafted = s.n_accepted = 0;
    s.finished.reset();
    s.timer.reset();
    s.prompt_ms = 0;
    s.req.emplace(std::move(r));
  }
}

void Engine::step() {
  std::vector<Slot*> decoding;
  for (auto& sp : slots_) {
    Slot& s = *sp;
    if (!s.req) continue;
    if (s.req->channel->cancelled()) {  // the client went away: free the slot now
      release(s);
      continue;
    }
    if (s.prefilling) {
      if (Status st = prefill_slot(s); !st.ok()) fail(s, st.error());
    } else {
      decoding.push_back(&s);
    }
  }
  if (decoding.empty()) return;
  if (Status st = speculate_slots(decoding); !st.ok()) {
    for (Slot* s : decoding) {
      if (s->req) fail(*s, st.error());
    }
  }
}

// One prompt chunk of slot s (at most ubatch rows); after the last chunk, samples and commits the first token.
Status Engine::prefill_slot(Slot& s) {
  const GenRequest& r = *s.req;
  const int n = static_cast<int>(r.prompt.size());
  const int end = chunk_end(r, s.n_prefilled, options_.ubatch);
  std::vector<model::ForwardRow> rows;
  for (int p = s.n_prefilled; p < end; ++p) {
    const auto i = static_cast<size_t>(p);
    rows.push_back({r.prompt[i], p, s.id, r.embeddings.empty() ? nullptr : r.embeddings[i], -1});
  }
  for (const ImageSpan& sp : r.image_spans) {  // block_end of the soft-token rows in this chunk
    for (int p = std::max(sp.begin, s.n_prefilled); p < std::min(sp.begin + sp.n_tokens, end); ++p) {
      rows[static_cast<size_t>(p - s.n_prefilled)].block_end = sp.begin + sp.n_tokens - 1;
    }
  }
  const std::vector<int32_t> last = {static_cast<int32_t>(rows.size() - 1)};
  const bool want_hidden = speculator_ && speculator_->source().needs_hidden();
  if (want_hidden) s.hidden.resize(static_cast<size_t>(model_->config().hidden));
  SPECULA_RETURN_IF_ERROR(model_->forward(*pool_, *cache_, rows, {last, logits_.data(),
                                                                   want_hidden ? s.hidden.data() : nullptr}));
  s.n_prefilled = end;
  if (end < n) return ok_status();
  s.prefilling = false;
  // The image rows are in the cache now: free them (the spans keep the hashes).
  std::vector<const float*>().swap(s.req->embeddings);
  std::vector<ImageEmbedding>().swap(s.req->images);
  s.prompt_ms = s.timer.elapsed_ms();
  s.timer.reset();
  s.pos = n;
  if (s.req->stop.max_tokens() == 0) {  // only fill the cache (llama-server's n_predict 0)
    s.pos = n - 1;                      // the last prompt token is in the cache but counts as not yet committed
    SPECULA_RETURN_IF_ERROR(cache_->truncate(s.id, s.pos));
    s.history.resize(static_cast<size_t>(n));
    finish(s, FinishReason::kLength);
    return ok_status();
  }
  SPECULA_TRY(const int32_t token, s.sampler->sample(logits_));
  s.sampler->accept(token);
  commit_token(s, token, logits_);
  if (s.finished) {
    finish(s, *s.finished);
  } else {
    flush_text(s);
  }
  return ok_status();
}

// Records a committed token (history, text, logprobs, stop conditions). Returns false when the request is finished.
bool Engine::commit_token(Slot& s, int32_t token, std::span<const float> row) {
  s.history.push_back(token);
  ++s.n_generated;
  s.pending_tokens.push_back(token);
  if (s.req->n_probs >= 0) s.pending_logprobs.push_back(token_logprobs(row, token, s.req->n_probs));
  const StopConfig& stop = s.req->stop;
  const bool eog = tokenizer_.vocab().is_stop(token);
  if (eog && !stop.ignore_eos()) {
    s.finished = FinishReason::kStop;
    return false;
  }
  if (auto piece = s.detok->push(token); piece.ok()) {
    const auto out = s.matcher->feed(piece.value());
    s.pending_text += out.text;
    if (s.matcher->stopped()) {
      s.finished = FinishReason::kStop;
      return false;
    }
  }
  if (stop.max_tokens() >= 0 && s.n_generated >= stop.max_tokens()) {
    s.finished = FinishReason::kLength;
    return false;
  }
  if (static_cast<int>(s.history.size()) - 1 >= options_.n_ctx) {  // no position left for the next token
    s.finished = FinishReason::kLength;
    return false;
  }
  if (s.req->channel->cancelled()) {
    s.finished = FinishReason::kStop;
    return false;
  }
  return true;
}

}  // namespace specula::runtime
