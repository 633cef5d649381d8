// MTP drafting on a model with bidirectional image attention (gemma4-spec.md §1.12): greedy output with the
// assistant equals greedy output without it (ARCHITECTURE.md §3 rule 4), through the float32 cache and the KvPool
// (f16, a sliding ring sized for the raised prefill chunk), with -ub below the image block. The mtp fixture's
// target (a transformers-checked target/assistant pair, no vision tower) is switched to bidirectional image
// attention, and 40 fixed pseudo-random embedding rows stand in for an image's soft tokens (a block longer than
// the target's sliding window), between the <|image> and <image|> tokens' places. (The fixture's random
// assistant gets no draft accepted on this prompt, so this covers verify + rollback; accepted drafts on a
// bidirectional model are covered by the n-gram test in vision_bidir_text_test.cpp.)
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "golden_util.h"
#include "kv/kv_pool.h"
#include "runtime/generate.h"
#include "runtime/multimodal_generate.h"
#include "runtime/speculative.h"
#include "runtime/speculative_setup.h"

namespace specula::test {
namespace {

constexpr int kSoft = 40;
constexpr int kNew = 20;

runtime::MultimodalPrompt image_prompt(const std::vector<int32_t>& text, int64_t hidden) {
  runtime::MultimodalPrompt p;
  runtime::ImageEmbedding img{kSoft, std::vector<float>(static_cast<size_t>(kSoft * hidden))};
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : img.embeds) v = dist(rng);
  p.images.push_back(std::move(img));
  // text[0], text[1] (in the place of <|image>), the block, then the rest (text[2] in the place of <image|>).
  for (size_t i = 0; i < 2; ++i) {
    p.tokens.push_back(text[i]);
    p.embeddings.push_back(nullptr);
  }
  for (int i = 0; i < kSoft; ++i) {
    p.tokens.push_back(0);
    p.embeddings.push_back(p.images[0].embeds.data() + static_cast<size_t>(i * hidden));
  }
  for (size_t i = 2; i < text.size(); ++i) {
    p.tokens.push_back(text[i]);
    p.embeddings.push_back(nullptr);
  }
  return p;
}

std::unique_ptr<kv::KvCache> make_cache(const model::TextModel& m, const runtime::MultimodalPrompt& p, kv::KvType type,
                                        int ubatch, int n_draft) {
  kv::KvPoolOptions o;
  o.type_k = o.type_v = type;
  o.n_ctx = 160;
  o.max_batch = std::max(runtime::max_prefill_chunk(runtime::prefill_block_ends(m, p.embeddings), ubatch), 1 + n_draft);
  auto c = m.make_kv_cache(o);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message());
  return std::move(c.value());
}

std::vector<int32_t> plain_greedy(ThreadPool& pool, model::TextModel& m, const runtime::MultimodalPrompt& p,
                                  kv::KvType type, int ubatch) {
  runtime::SamplerParams greedy;
  greedy.temperature = 0.0f;
  runtime::Sampler sampler(runtime::SamplerConfig::create(greedy, m.vocab()).value());
  auto cache = make_cache(m, p, type, ubatch, 1);
  runtime::GenerateOptions o;
  o.max_tokens = kNew;
  o.ubatch = ubatch;
  std::vector<int32_t> out;
  auto st = runtime::generate_multimodal(pool, m, *cache, p, sampler, o, [&](int32_t t) { out.push_back(t); return true; });
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  return out;
}

TEST(VisionBidirMtp, GreedyWithAssistantEqualsGreedyWithout) {
  const std::string dir = fixture_dir("mtp");
  auto target = model::TextModel::load(dir + "/llamacpp-f32.gguf");
  ASSERT_TRUE(target.ok()) << target.error().message();
  auto& m = *target.value();
  ASSERT_GT(m.config().sliding_window, 0);
  ASSERT_LT(m.config().sliding_window, kSoft);
  const auto text = read_json(dir + "/mtp.json").at("prompts").at(0).at("tokens").get<std::vector<int32_t>>();
  const auto prompt = image_prompt(text, m.config().hidden);
  ThreadPool pool(2);
  m.set_bidirectional_images(false);
  const auto causal = plain_greedy(pool, m, prompt, kv::KvType::kF32, 512);
  m.set_bidirectional_images(true);
  for (const kv::KvType type : {kv::KvType::kF32, kv::KvType::kF16}) {
    const auto plain = plain_greedy(pool, m, prompt, type, 512);
    ASSERT_EQ(plain.size(), static_cast<size_t>(kNew));
    if (type == kv::KvType::kF32) {
      EXPECT_NE(plain, causal);  // the image attention rule changes the output
      EXPECT_EQ(plain_greedy(pool, m, prompt, type, 8), plain);  // -ub 8 < the block: raised, same result
    }
    for (const int n_draft : {1, 3}) {
      auto spec = runtime::Speculator::create(config::SpecMtp{dir + "/assistant-llamacpp-f32.gguf", n_draft}, m);
      ASSERT_TRUE(spec.ok()) << spec.error().message();
      runtime::SamplerParams greedy;
      greedy.temperature = 0.0f;
      runtime::Sampler sampler(runtime::SamplerConfig::create(greedy, m.vocab()).value());
      auto cache = make_cache(m, prompt, type, 8, n_draft);
      runtime::SpecOptions o;
      o.n_draft = n_draft;
      o.ubatch = 8;
      o.max_tokens = kNew;
      const runtime::SpecSequence seq{prompt.tokens, &sampler, prompt.embeddings};
      auto r = runtime::speculative_generate(pool, m, *cache, std::span(&seq, 1), spec.value()->source(), o,
                                             [](size_t, int32_t) { return true; });
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(r.value().sequences[0].tokens, plain) << kv::kv_type_name(type) << ", n_draft " << n_draft;
      EXPECT_GT(r.value().stats.n_drafted, 0);  // drafts were verified and rolled back through the ring
      std::printf("  %s, n_draft %d: %lld drafted, %lld accepted\n", kv::kv_type_name(type), n_draft,
                  static_cast<long long>(r.value().stats.n_drafted), static_cast<long long>(r.value().stats.n_accepted));
    }
  }
}

}  // namespace
}  // namespace specula::test
