// Invariants of the speculative loop: greedy output with drafting == without it, token for token (the fixture's
// transformers greedy tokens and our plain generate()), for draft sizes 1-8, batched sequences and prompts longer
// than the sliding window; plus acceptance/rollback with an oracle drafter that is right part of the time.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "model/mtp/mtp_drafter.h"
#include "runtime/generate.h"
#include "runtime/speculative.h"
#include "runtime/speculative_mtp.h"
#include "test_paths.h"

namespace specula::runtime {
namespace {

std::string mtp_dir() { return test::shared_dir() + "/fixtures/llamacpp/mtp"; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

Sampler greedy_sampler(int vocab) {
  SamplerParams p;
  p.temperature = 0.0f;
  auto c = SamplerConfig::create(p, vocab);
  EXPECT_TRUE(c.ok());
  return Sampler(std::move(c.value()));
}

// Plain decoding of each prompt alone (cache row 0), the reference for the invariants.
std::vector<int32_t> plain_greedy(ThreadPool& pool, model::TextModel& m, std::span<const int32_t> prompt, int n,
                                  int n_ctx) {
  auto cache = m.make_cache(1, n_ctx);
  EXPECT_TRUE(cache.ok());
  Sampler s = greedy_sampler(m.vocab());
  std::vector<int32_t> out;
  auto r = generate(pool, m, cache.value(), prompt, s, {.ubatch = 512, .max_tokens = n, .ignore_eos = false, .stop_ids = {}},
                    [&](int32_t t) { out.push_back(t); return true; });
  EXPECT_TRUE(r.ok()) << r.error().message();
  return out;
}

struct SpecRun {
  std::vector<std::vector<int32_t>> tokens;
  SpecStats stats;
};

SpecRun spec_greedy(ThreadPool& pool, model::TextModel& m, DraftSource& src, const std::vector<std::vector<int32_t>>& prompts,
                    int n_draft, int n, int n_ctx) {
  auto cache = m.make_cache(static_cast<int>(prompts.size()), n_ctx);
  EXPECT_TRUE(cache.ok());
  std::vector<Sampler> samplers;
  for (size_t i = 0; i < prompts.size(); ++i) samplers.push_back(greedy_sampler(m.vocab()));
  std::vector<SpecSequence> seqs;
  for (size_t i = 0; i < prompts.size(); ++i) seqs.push_back({prompts[i], &samplers[i]});
  SpecOptions o;
  o.n_draft = n_draft;
  o.max_tokens = n;
  auto r = speculative_generate(pool, m, cache.value(), seqs, src, o, [](size_t, int32_t) { return true; });
  EXPECT_TRUE(r.ok()) << r.error().message();
  SpecRun out;
  if (!r.ok()) return out;
  for (auto& s : r->sequences) out.tokens.push_back(s.tokens);
  out.stats = r->stats;
  return out;
}

struct MtpFixture {
  std::unique_ptr<model::TextModel> target;
  std::unique_ptr<model::MtpDrafter> drafter;
  nlohmann::json mtp = read_json(mtp_dir() + "/mtp.json");
  MtpFixture() {
    target = std::move(model::TextModel::load(mtp_dir() + "/llamacpp-f32.gguf").value());
    auto d = model::MtpDrafter::load(mtp_dir() + "/assistant-llamacpp-f32.gguf", *target);
    EXPECT_TRUE(d.ok()) << d.error().message();
    drafter = std::move(d.value());
  }
};

TEST(SpeculativeMtp, GreedyEqualsTransformersGreedyForEveryDraftSize) {
  MtpFixture f;
  MtpDraftSource src(*f.drafter);
  ThreadPool pool(1);
  for (const auto& p : f.mtp.at("prompts")) {
    const auto prompt = p.at("tokens").get<std::vector<int32_t>>();
    const auto want = p.at("plain_greedy_tokens").get<std::vector<int32_t>>();
    for (int k = 1; k <= 8; ++k) {
      const SpecRun r = spec_greedy(pool, *f.target, src, {prompt}, k, static_cast<int>(want.size()), 128);
      ASSERT_EQ(r.tokens.size(), 1u);
      EXPECT_EQ(r.tokens[0], want) << "draft size " << k;
      EXPECT_GT(r.stats.n_drafted, 0);
    }
  }
}

TEST(SpeculativeMtp, BatchedSequencesEqualPlainDecodingAlone) {
  MtpFixture f;
  MtpDraftSource src(*f.drafter);
  ThreadPool pool(1);
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& p : f.mtp.at("prompts")) prompts.push_back(p.at("tokens").get<std::vector<int32_t>>());
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> id(3, 399);
  for (int len : {1, 2, 6, 40, 90}) {  // around and far beyond the sliding window (5) and the drafter's (6 entries)
    std::vector<int32_t> p(static_cast<size_t>(len));
    for (auto& t : p) t = id(rng);
    prompts.push_back(p);
  }
  constexpr int kN = 40;
  std::vector<std::vector<int32_t>> want;
  for (const auto& p : prompts) want.push_back(plain_greedy(pool, *f.target, p, kN, 256));
  for (int k : {1, 3, 8}) {
    const SpecRun r = spec_greedy(pool, *f.target, src, prompts, k, kN, 256);
    ASSERT_EQ(r.tokens.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(r.tokens[i], want[i]) << "draft " << k << " prompt " << i;
  }
}

TEST(SpeculativeMtp, StopsAtTheContextEndLikePlainDecoding) {
  MtpFixture f;
  MtpDraftSource src(*f.drafter);
  ThreadPool pool(1);
  const auto prompt = f.mtp.at("prompts")[0].at("tokens").get<std::vector<int32_t>>();
  const int n_ctx = static_cast<int>(prompt.size()) + 10;
  const auto want = plain_greedy(pool, *f.target, prompt, -1, n_ctx);
  const SpecRun r = spec_greedy(pool, *f.target, src, {prompt}, 4, -1, n_ctx);
  EXPECT_EQ(r.tokens[0], want);
  EXPECT_EQ(want.size(), 11u);  // positions prompt.size() .. n_ctx - 1 are written, plus the last token
}

// Proposes the true continuation (from a plain run) but corrupts some drafts: exercises full and partial
// acceptance, the bonus token and the rollback of rejected entries.
class OracleDrafter final : public DraftSource {
 public:
  OracleDrafter(std::vector<std::vector<int32_t>> full, uint32_t seed) : full_(std::move(full)), rng_(seed) {}
  bool needs_hidden() const override { return false; }
  Status draft(ThreadPool&, const kv::KvCache&, std::span<const DraftRequest> reqs, std::span<Draft> out) override {
    for (size_t i = 0; i < reqs.size(); ++i) {
      const auto& truth = full_[static_cast<size_t>(reqs[i].seq)];
      const size_t next = reqs[i].history.size();  // index of the first draft in prompt + generated
      for (int j = 0; j < reqs[i].n_max && next + static_cast<size_t>(j) < truth.size(); ++j) {
        int32_t t = truth[next + static_cast<size_t>(j)];
        if (rng_() % 4 == 0) t = (t + 1) % 400;  // wrong a quarter of the time
        out[i].tokens.push_back(t);
      }
    }
    return ok_status();
  }

 private:
  std::vector<std::vector<int32_t>> full_;
  std::mt19937 rng_;
};

TEST(Speculative, OracleDraftsAreAcceptedAndOutputIsUnchanged) {
  MtpFixture f;
  ThreadPool pool(1);
  std::vector<std::vector<int32_t>> prompts, want, full;
  for (const auto& p : f.mtp.at("prompts")) prompts.push_back(p.at("tokens").get<std::vector<int32_t>>());
  for (const auto& p : prompts) {
    want.push_back(plain_greedy(pool, *f.target, p, 60, 256));
    full.push_back(p);
    full.back().insert(full.back().end(), want.back().begin(), want.back().end());
  }
  for (int k : {1, 2, 5, 8}) {
    OracleDrafter src(full, static_cast<uint32_t>(k));
    const SpecRun r = spec_greedy(pool, *f.target, src, prompts, k, 60, 256);
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(r.tokens[i], want[i]) << "draft " << k;
    EXPECT_GT(r.stats.n_accepted, r.stats.n_drafted / 3) << "draft " << k;
    EXPECT_LT(r.stats.n_accepted, r.stats.n_drafted) << "draft " << k;
    // Per-position counts are consistent: position i+1 is never accepted more often than position i.
    for (size_t i = 1; i < r.stats.accepted_at.size(); ++i) EXPECT_LE(r.stats.accepted_at[i], r.stats.accepted_at[i - 1]);
  }
}

}  // namespace
}  // namespace specula::runtime
