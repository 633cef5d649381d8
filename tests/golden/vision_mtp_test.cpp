// MTP drafting with image rows in the prompt: greedy output with the assistant equals greedy output without
// it (ARCHITECTURE.md §3 rule 4, "a request with an image and MTP on gives the same tokens as with MTP off").
// The mtp fixture's target has no vision tower, so the "image" rows are fixed pseudo-random embeddings placed
// where soft tokens would be; the loop cannot tell them from projector output.
#include <gtest/gtest.h>

#include <random>

#include "golden_util.h"
#include "runtime/multimodal_generate.h"
#include "runtime/speculative.h"
#include "runtime/speculative_setup.h"

namespace specula::test {
namespace {

runtime::MultimodalPrompt fake_image_prompt(const std::vector<int32_t>& text, int64_t hidden, int n_soft) {
  runtime::MultimodalPrompt p;
  runtime::ImageEmbedding img{n_soft, std::vector<float>(static_cast<size_t>(n_soft * hidden))};
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : img.embeds) v = dist(rng);
  p.images.push_back(std::move(img));
  // text[0], n_soft image rows (pad id 0), then the rest of the text.
  p.tokens.push_back(text[0]);
  p.embeddings.push_back(nullptr);
  for (int i = 0; i < n_soft; ++i) {
    p.tokens.push_back(0);
    p.embeddings.push_back(p.images[0].embeds.data() + static_cast<size_t>(i * hidden));
  }
  for (size_t i = 1; i < text.size(); ++i) {
    p.tokens.push_back(text[i]);
    p.embeddings.push_back(nullptr);
  }
  return p;
}

TEST(VisionMtp, GreedyWithAssistantEqualsGreedyWithoutForImagePrompt) {
  const std::string dir = fixture_dir("mtp");
  auto target = model::TextModel::load(dir + "/llamacpp-f32.gguf");
  ASSERT_TRUE(target.ok()) << target.error().message();
  auto& m = *target.value();
  const auto mtp = read_json(dir + "/mtp.json");
  const auto text = mtp.at("prompts").at(0).at("tokens").get<std::vector<int32_t>>();
  const auto prompt = fake_image_prompt(text, m.config().hidden, 18);
  constexpr int kNew = 24;
  ThreadPool pool(2);
  runtime::SamplerParams greedy;
  greedy.temperature = 0.0f;

  auto plain_cache = m.make_cache(1, 128);
  ASSERT_TRUE(plain_cache.ok());
  auto cfg = runtime::SamplerConfig::create(greedy, m.vocab());
  ASSERT_TRUE(cfg.ok());
  runtime::Sampler plain_sampler(std::move(cfg.value()));
  std::vector<int32_t> plain;
  runtime::GenerateOptions options;
  options.max_tokens = kNew;
  options.ubatch = 8;
  auto st = runtime::generate_multimodal(pool, m, plain_cache.value(), prompt, plain_sampler, options,
                                         [&](int32_t t) { plain.push_back(t); return true; });
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(plain.size(), static_cast<size_t>(kNew));

  for (int n_draft : {1, 3}) {
    auto spec = runtime::Speculator::create(config::SpecMtp{dir + "/assistant-llamacpp-f32.gguf", n_draft}, m);
    ASSERT_TRUE(spec.ok()) << spec.error().message();
    auto cache = m.make_cache(1, 128);
    ASSERT_TRUE(cache.ok());
    auto cfg2 = runtime::SamplerConfig::create(greedy, m.vocab());
    ASSERT_TRUE(cfg2.ok());
    runtime::Sampler sampler(std::move(cfg2.value()));
    runtime::SpecOptions o;
    o.n_draft = n_draft;
    o.ubatch = 8;
    o.max_tokens = kNew;
    const runtime::SpecSequence seq{prompt.tokens, &sampler, prompt.embeddings};
    auto r = runtime::speculative_generate(pool, m, cache.value(), std::span(&seq, 1), spec.value()->source(), o,
                                           [](size_t, int32_t) { return true; });
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r.value().sequences[0].tokens, plain) << "n_draft " << n_draft;
    EXPECT_GT(r.value().stats.n_drafted, 0);
  }
  // The image rows matter: the same prompt with the pad token's own embedding there generates differently.
  runtime::MultimodalPrompt no_image = prompt;
  for (auto& e : no_image.embeddings) e = nullptr;
  auto cache3 = m.make_cache(1, 128);
  auto cfg3 = runtime::SamplerConfig::create(greedy, m.vocab());
  runtime::Sampler s3(std::move(cfg3.value()));
  std::vector<int32_t> other;
  ASSERT_TRUE(runtime::generate_multimodal(pool, m, cache3.value(), no_image, s3, options,
                                           [&](int32_t t) { other.push_back(t); return true; }).ok());
  EXPECT_NE(other, plain);
}

}  // namespace
}  // namespace specula::test
