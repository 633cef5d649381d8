// The speculation invariants on `synth --preset tiny` with `--preset tiny-assistant` (a centroid-head drafter):
// greedy output with MTP or n-gram drafts equals plain decoding alone, token for token, for draft sizes 1-8,
// four sequences batched, prompts far longer than the sliding window (32), float32 and turbo4 caches.
#include <gtest/gtest.h>

#include <random>

#include "model/mtp/mtp_drafter.h"
#include "model/synth/synth.h"
#include "runtime/generate.h"
#include "runtime/ngram_drafter.h"
#include "runtime/speculative.h"
#include "runtime/speculative_mtp.h"
#include "test_paths.h"

namespace specula::runtime {
namespace {

using Ids = std::vector<int32_t>;

struct Tiny {
  std::unique_ptr<model::TextModel> target;
  std::unique_ptr<model::MtpDrafter> drafter;
  Tiny() {
    ThreadPool pool(1);
    const std::string dir = test::temp_dir();
    model::SynthOptions t, a;
    t.preset = "tiny";
    t.file_type = quant::FileType::kAllF32;
    a.preset = "tiny-assistant";
    a.file_type = quant::FileType::kAllF32;
    EXPECT_TRUE(model::synth_model(t, dir + "/tiny.gguf", pool).ok());
    EXPECT_TRUE(model::synth_model(a, dir + "/tiny-assistant.gguf", pool).ok());
    target = std::move(model::TextModel::load(dir + "/tiny.gguf").value());
    drafter = std::move(model::MtpDrafter::load(dir + "/tiny-assistant.gguf", *target).value());
  }
};

std::unique_ptr<kv::KvCache> make_cache(const model::TextModel& m, kv::KvType type, int n_seq, int n_ctx) {
  kv::KvPoolOptions o;
  o.type_k = o.type_v = type;
  o.n_seq = n_seq;
  o.n_ctx = n_ctx;
  o.max_batch = 64;
  auto c = m.make_kv_cache(o);
  EXPECT_TRUE(c.ok()) << c.error().message();
  return std::move(c.value());
}

Sampler greedy(int vocab) {
  SamplerParams p;
  p.temperature = 0.0f;
  return Sampler(SamplerConfig::create(p, vocab).value());
}

std::vector<Ids> prompts() {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> id(3, 511);
  std::vector<Ids> out;
  for (int len : {5, 33, 70, 150}) {
    Ids p(static_cast<size_t>(len));
    for (auto& t : p) t = id(rng);
    out.push_back(p);
  }
  return out;
}

TEST(SpeculativeSynthTiny, GreedyEqualsPlainDecoding) {
  Tiny tiny;
  ASSERT_TRUE(tiny.drafter && tiny.drafter->centroid_head());
  model::TextModel& m = *tiny.target;
  ThreadPool pool(1);
  constexpr int kN = 40, kCtx = 256;
  for (const kv::KvType type : {kv::KvType::kF32, kv::KvType::kTurbo4}) {
    const auto ps = prompts();
    std::vector<Ids> want;
    for (const auto& p : ps) {
      auto cache = make_cache(m, type, 1, kCtx);
      Sampler s = greedy(m.vocab());
      Ids out;
      ASSERT_TRUE(generate(pool, m, *cache, p, s, {64, kN, true, {}}, [&](int32_t t) { out.push_back(t); return true; }).ok());
      want.push_back(out);
    }
    MtpDraftSource mtp(*tiny.drafter);
    NgramDraftSource ngram(1, 4);
    for (DraftSource* src : std::initializer_list<DraftSource*>{&mtp, &ngram}) {
      // Every draft size for MTP on the float32 cache; a spread of them otherwise (suite time).
      const std::vector<int> sizes = src == &mtp && type == kv::KvType::kF32 ? std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}
                                                                             : std::vector<int>{1, 3, 8};
      for (const int k : sizes) {
        auto cache = make_cache(m, type, static_cast<int>(ps.size()), kCtx);
        std::vector<Sampler> samplers;
        for (size_t i = 0; i < ps.size(); ++i) samplers.push_back(greedy(m.vocab()));
        std::vector<SpecSequence> seqs;
        for (size_t i = 0; i < ps.size(); ++i) seqs.push_back({ps[i], &samplers[i]});
        SpecOptions o;
        o.n_draft = k;
        o.ubatch = 64;
        o.max_tokens = kN;
        o.ignore_eos = true;
        auto r = speculative_generate(pool, m, *cache, seqs, *src, o, [](size_t, int32_t) { return true; });
        ASSERT_TRUE(r.ok()) << r.error().message();
        for (size_t i = 0; i < ps.size(); ++i) {
          EXPECT_EQ(r->sequences[i].tokens, want[i]) << (src == &mtp ? "mtp" : "ngram") << " draft " << k << " prompt "
                                                     << i << " cache " << static_cast<int>(type);
        }
        EXPECT_GT(r->stats.n_drafted, 0);
      }
    }
  }
}

}  // namespace
}  // namespace specula::runtime
