// N-gram (prompt lookup) drafting: hand-derived lookups, and the invariant greedy output with n-gram drafts ==
// without, on the MTP fixture's target (whose greedy continuations repeat, so drafts do get accepted).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/generate.h"
#include "runtime/ngram_drafter.h"
#include "runtime/speculative.h"
#include "test_paths.h"

namespace specula::runtime {
namespace {

using Ids = std::vector<int32_t>;

TEST(NgramLookup, HandDerivedCases) {
  // Suffix [2 3] occurred at index 1; what followed: 4 5 then 2 3 (the history up to the end).
  EXPECT_EQ(ngram_lookup(Ids{1, 2, 3, 4, 5, 2, 3}, 1, 4, 3), (Ids{4, 5, 2}));
  // The most recent occurrence wins: [7] at index 3 is followed by 9 (not the 8 after index 0).
  EXPECT_EQ(ngram_lookup(Ids{7, 8, 0, 7, 9, 0, 7}, 1, 1, 1), (Ids{9}));
  // Longer suffixes first: [0 7] matches index 2 -> 9; [7] alone would give the same here.
  EXPECT_EQ(ngram_lookup(Ids{7, 8, 0, 7, 9, 0, 7}, 1, 3, 2), (Ids{9, 0}));
  // A repeating token drafts its repetition beyond the end of the history.
  EXPECT_EQ(ngram_lookup(Ids{5, 6, 6}, 1, 2, 4), (Ids{6, 6, 6, 6}));
  // A period-2 pattern continues with period 2.
  EXPECT_EQ(ngram_lookup(Ids{1, 2, 1, 2}, 2, 2, 5), (Ids{1, 2, 1, 2, 1}));
  // No recurrence at or above n_min: no draft.
  EXPECT_TRUE(ngram_lookup(Ids{1, 2, 3, 4}, 1, 4, 3).empty());
  EXPECT_TRUE(ngram_lookup(Ids{1, 2, 1, 3, 1}, 2, 4, 3).empty());
  EXPECT_TRUE(ngram_lookup(Ids{9}, 1, 4, 3).empty());
}

TEST(NgramSpeculation, GreedyEqualsPlainDecoding) {
  const std::string dir = test::shared_dir() + "/fixtures/llamacpp/mtp";
  auto target = model::TextModel::load(dir + "/llamacpp-f32.gguf");
  ASSERT_TRUE(target.ok());
  auto& m = *target.value();
  std::ifstream in(dir + "/mtp.json");
  const auto mtp = nlohmann::json::parse(in);
  ThreadPool pool(1);
  SamplerParams sp;
  sp.temperature = 0.0f;
  std::vector<Ids> prompts;
  for (const auto& p : mtp.at("prompts")) prompts.push_back(p.at("tokens").get<Ids>());
  constexpr int kN = 48;
  std::vector<Ids> want;
  for (const auto& p : prompts) {
    auto cache = m.make_cache(1, 256);
    Sampler s(SamplerConfig::create(sp, m.vocab()).value());
    Ids out;
    ASSERT_TRUE(generate(pool, m, cache.value(), p, s, {512, kN, false, {}}, [&](int32_t t) { out.push_back(t); return true; }).ok());
    want.push_back(out);
  }
  EXPECT_EQ(Ids(want[0].begin(), want[0].begin() + 24), mtp.at("prompts")[0].at("plain_greedy_tokens").get<Ids>());
  for (int k : {1, 2, 4, 8}) {
    NgramDraftSource src(1, 4);
    auto cache = m.make_cache(2, 256);
    std::vector<Sampler> samplers;
    for (int i = 0; i < 2; ++i) samplers.emplace_back(SamplerConfig::create(sp, m.vocab()).value());
    const std::vector<SpecSequence> seqs = {{prompts[0], &samplers[0]}, {prompts[1], &samplers[1]}};
    SpecOptions o;
    o.n_draft = k;
    o.max_tokens = kN;
    auto r = speculative_generate(pool, m, cache.value(), seqs, src, o, [](size_t, int32_t) { return true; });
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->sequences[0].tokens, want[0]) << "draft " << k;
    EXPECT_EQ(r->sequences[1].tokens, want[1]) << "draft " << k;
    EXPECT_GT(r->stats.n_accepted, 0) << "draft " << k;
    std::printf("  n-gram, %d drafts: %s", k, r->stats.summary().c_str());
  }
}

}  // namespace
}  // namespace specula::runtime
