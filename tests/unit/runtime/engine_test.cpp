// The serving engine on `synth --preset tiny`: requests batched in several slots (more requests than slots, prompts
// longer than a prefill chunk) produce exactly the greedy tokens of runtime::generate alone, with and without MTP
// drafting; a cancelled request frees its slot; a full queue and an oversized prompt are refused.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "format/gguf_reader.h"
#include "model/synth/synth.h"
#include "runtime/engine.h"
#include "runtime/generate.h"
#include "test_paths.h"

namespace specula::runtime {
namespace {

using Ids = std::vector<int32_t>;
constexpr int kUbatch = 32;
constexpr int kNew = 20;

struct Files {
  std::string target, assistant;
  Files() {
    ThreadPool pool(1);
    const std::string dir = test::temp_dir();
    model::SynthOptions t, a;
    t.preset = "tiny";
    a.preset = "tiny-assistant";
    target = dir + "/tiny.gguf";
    assistant = dir + "/tiny-assistant.gguf";
    EXPECT_TRUE(model::synth_model(t, target, pool).ok());
    EXPECT_TRUE(model::synth_model(a, assistant, pool).ok());
  }
};

const Files& files() {
  static const Files f;
  return f;
}

std::vector<Ids> prompts() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(3, 511);
  std::vector<Ids> out;
  for (int len : {5, 40, 70, 9}) {
    Ids p = {2};
    for (int i = 1; i < len; ++i) p.push_back(id(rng));
    out.push_back(p);
  }
  return out;
}

SamplerParams greedy_params() {
  SamplerParams p;
  p.temperature = 0.0f;
  return p;
}

// The reference: one sequence through runtime::generate with the same cache type and prefill chunk (with image
// rows: `embeddings` per position).
Ids alone(const Ids& prompt, std::span<const float* const> embeddings = {}) {
  auto m = model::TextModel::load(files().target);
  EXPECT_TRUE(m.ok());
  kv::KvPoolOptions o;
  o.type_k = o.type_v = kv::KvType::kF16;
  o.n_ctx = 256;
  o.max_batch = kUbatch;
  auto cache = m.value()->make_kv_cache(o);
  EXPECT_TRUE(cache.ok());
  ThreadPool pool(1);
  Sampler sampler(SamplerConfig::create(greedy_params(), m.value()->vocab()).value());
  Ids out;
  GenerateOptions g{kUbatch, kNew, true, {}};
  EXPECT_TRUE(generate(pool, *m.value(), *cache.value(), prompt, sampler, g, [&](int32_t t) {
                out.push_back(t);
                return true;
              }, embeddings).ok());
  return out;
}

EngineOptions options(int n_parallel, config::SpecConfig spec = config::SpecOff{}) {
  EngineOptions o;
  o.model_path = files().target;
  o.n_ctx = 256;
  o.n_parallel = n_parallel;
  o.ubatch = kUbatch;
  o.queue_max = 8;
  o.cache_types = {kv::KvType::kF16, kv::KvType::kF16};
  o.spec = std::move(spec);
  return o;
}

GenRequest request(const Engine& e, const Ids& prompt, int max_tokens) {
  StopParams sp;
  sp.max_tokens = max_tokens;
  sp.ignore_eos = true;
  return GenRequest{prompt, SamplerConfig::create(greedy_params(), e.model().vocab()).value(),
                    StopConfig::create(sp).value(), -1, true, false, std::make_shared<RequestChannel>(), {}, {}, {}};
}

// Reads events until kDone; returns the tokens (empty on an error or a timeout) and the usage.
Ids collect(RequestChannel& c, RequestUsage* usage = nullptr) {
  Ids out;
  for (int i = 0; i < 300; ++i) {
    auto e = c.pop(std::chrono::milliseconds(100));
    if (!e) continue;
    if (e->kind == RequestEvent::Kind::kError) return {};
    out.insert(out.end(), e->tokens.begin(), e->tokens.end());
    if (e->kind == RequestEvent::Kind::kDone) {
      if (usage != nullptr) *usage = e->usage;
      return out;
    }
  }
  return {};
}

void expect_batched_equals_alone(config::SpecConfig spec) {
  auto engine = Engine::create(options(3, std::move(spec)));
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();
  const auto ps = prompts();
  std::vector<std::shared_ptr<RequestChannel>> channels;
  for (const auto& p : ps) {
    GenRequest r = request(e, p, kNew);
    channels.push_back(r.channel);
    ASSERT_TRUE(e.submit(std::move(r)).ok());
  }
  e.start();
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(collect(*channels[i]), alone(ps[i])) << "prompt " << i;
  e.stop();
}

TEST(Engine, BatchedSlotsEqualGenerateAlone) { expect_batched_equals_alone(config::SpecOff{}); }

TEST(Engine, MtpSlotsEqualGenerateAlone) {
  expect_batched_equals_alone(config::SpecMtp{files().assistant, 3});
}

TEST(Engine, CancelledRequestFreesItsSlot) {
  auto engine = Engine::create(options(1));
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();
  e.start();
  const auto ps = prompts();
  GenRequest endless = request(e, ps[0], -1);
  auto channel = endless.channel;
  ASSERT_TRUE(e.submit(std::move(endless)).ok());
  ASSERT_TRUE(channel->pop(std::chrono::seconds(10)).has_value());
  channel->cancel();
  GenRequest next = request(e, ps[1], kNew);
  auto next_channel = next.channel;
  ASSERT_TRUE(e.submit(std::move(next)).ok());
  EXPECT_EQ(collect(*next_channel), alone(ps[1]));
  e.stop();
}

TEST(Engine, RefusesFullQueueAndOversizedPrompts) {
  EngineOptions o = options(1);
  o.queue_max = 1;
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();  // not started: requests stay queued
  const auto ps = prompts();
  EXPECT_TRUE(e.submit(request(e, ps[0], 4)).ok());
  const Status full = e.submit(request(e, ps[1], 4));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ErrorCode::kResourceExhausted);
  const Status big = e.submit(request(e, Ids(256, 5), 4));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kOutOfRange);
  GenRequest bad_slot = request(e, ps[0], 4);
  bad_slot.id_slot = 3;
  EXPECT_EQ(e.submit(std::move(bad_slot)).error().code(), ErrorCode::kInvalidArgument);
}

// Image requests without a vision model: random embedding rows stand in for encoded images (the engine only sees
// rows). The tiny vocabulary has the image tokens.
class EngineImages : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = format::GgufFile::open(files().target);
    ASSERT_TRUE(file.ok());
    auto ids = image_token_ids(file.value());
    ASSERT_TRUE(ids.ok()) << ids.error().message();
    ids_ = ids.value();
  }

  ImageEmbedding image(int n_tokens, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    ImageEmbedding img{n_tokens, std::vector<float>(static_cast<size_t>(n_tokens) * 256)};
    for (auto& v : img.embeds) v = d(rng);
    return img;
  }

  // [2, 40, 41, 42, (100 + i for i < n_text), <|image|> placeholder per image, text...] bound to the images.
  GenRequest with_images(const Engine& e, std::vector<ImageEmbedding> images, int n_text = 0) const {
    Ids prompt = {2, 40, 41, 42};
    for (int i = 0; i < n_text; ++i) prompt.push_back(100 + i);
    for (size_t i = 0; i < images.size(); ++i) prompt.insert(prompt.end(), {ids_.soft, 50});
    prompt.insert(prompt.end(), {60, 61, 62});
    GenRequest r = request(e, prompt, kNew);
    EXPECT_TRUE(attach_images(r, ids_, std::move(images)).ok());
    return r;
  }

  ImageTokenIds ids_;
};

TEST_F(EngineImages, ImageBlocksAreWholeInOneChunkAndMatchGenerate) {
  // 20 text tokens, then an image block of 22 rows (positions 20..41) across the chunk boundary at 32: the engine's
  // first chunk stops at 20 and the second holds the whole block. All chunks are within the batch-invariant
  // decode size, so the tokens are exactly generate()'s with its own chunking.
  auto engine = Engine::create(options(2));
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();
  GenRequest r = with_images(e, {image(20, 1)}, 16);
  ASSERT_EQ(r.image_spans.size(), 1u);
  EXPECT_EQ(r.image_spans[0].begin, 21);
  EXPECT_EQ(r.prompt[20], ids_.boi);
  EXPECT_EQ(r.prompt[41], ids_.eoi);
  EXPECT_EQ(r.embeddings[20], nullptr);
  EXPECT_EQ(r.embeddings[21], r.images[0].embeds.data());
  EXPECT_EQ(e.submit(with_images(e, {image(40, 1)})).error().code(), ErrorCode::kInvalidArgument);  // > 32 rows
  const Ids want = alone(r.prompt, r.embeddings);
  auto channel = r.channel;
  ASSERT_TRUE(e.submit(std::move(r)).ok());
  e.start();
  EXPECT_EQ(collect(*channel), want);
  e.stop();
}

TEST_F(EngineImages, PromptCacheNeverReusesAnotherImagesPositions) {
  auto engine = Engine::create(options(1));
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();
  e.start();
  auto run = [&](GenRequest r, RequestUsage& u) {
    auto channel = r.channel;
    EXPECT_TRUE(e.submit(std::move(r)).ok());
    return collect(*channel, &u);
  };
  RequestUsage u1, u2, u3;
  GenRequest a = with_images(e, {image(20, 1)});
  GenRequest b = with_images(e, {image(20, 2)});  // same tokens (all soft tokens share one id), another image
  const Ids want_b = alone(b.prompt, b.embeddings);
  const size_t n_prompt = b.prompt.size();
  run(std::move(a), u1);
  EXPECT_EQ(u1.n_cached, 0);
  EXPECT_EQ(run(std::move(b), u2), want_b);
  EXPECT_EQ(u2.n_cached, 4);  // the text before the image block only
  EXPECT_EQ(run(with_images(e, {image(20, 2)}), u3), want_b);
  EXPECT_EQ(u3.n_cached, static_cast<int>(n_prompt) - 1);  // the same image again: all but the last token
  e.stop();
}

TEST_F(EngineImages, ImageAndTextRequestsTogetherMatchAloneWithMtp) {
  auto engine = Engine::create(options(3, config::SpecMtp{files().assistant, 3}));
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();
  std::vector<GenRequest> reqs;
  reqs.push_back(with_images(e, {image(30, 3)}));
  reqs.push_back(request(e, prompts()[1], kNew));
  reqs.push_back(with_images(e, {image(12, 4), image(9, 5)}));
  std::vector<Ids> want;
  std::vector<std::shared_ptr<RequestChannel>> channels;
  for (auto& r : reqs) {
    want.push_back(alone(r.prompt, r.embeddings));
    channels.push_back(r.channel);
    ASSERT_TRUE(e.submit(std::move(r)).ok());
  }
  e.start();
  for (size_t i = 0; i < channels.size(); ++i) EXPECT_EQ(collect(*channels[i]), want[i]) << "request " << i;
  e.stop();
  const EngineMetrics m = e.metrics();
  EXPECT_GT(m.spec_image.drafted, 0);
  EXPECT_GT(m.spec_text.drafted, 0);
  EXPECT_EQ(m.spec_image.drafted + m.spec_text.drafted, m.drafted);
  EXPECT_EQ(m.image_requests, 2);
}

// The engine's image encoder on the vision fixture (llama.cpp's text + mmproj files): coffee.png at 70 tokens
// gives transformers' projected embeddings (fixtures README: 60 x 48, f32 bar 1e-3 of max |ref|).
TEST(EngineVision, EncodesTheFixtureImageLikeTransformers) {
  const std::string dir = test::shared_dir() + "/fixtures/llamacpp/vision";
  EngineOptions o = options(1);
  o.model_path = dir + "/llamacpp-f32.gguf";
  o.vision = config::VisionOn{dir + "/mmproj-llamacpp-f32.gguf", 70};
  auto engine = Engine::create(o);
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Engine& e = *engine.value();
  ASSERT_TRUE(e.vision());
  std::ifstream png(test::shared_dir() + "/assets/images/coffee.png", std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(png)), std::istreambuf_iterator<char>());
  auto emb = e.encode_image(bytes, "coffee.png");
  ASSERT_TRUE(emb.ok()) << emb.error().message();
  ASSERT_EQ(emb.value().n_tokens, 60);
  std::ifstream ref_file(dir + "/image_embeds_coffee.f32", std::ios::binary);
  std::vector<float> ref(60 * 48);
  ref_file.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * sizeof(float)));
  ASSERT_TRUE(ref_file.good());
  ASSERT_EQ(emb.value().embeds.size(), ref.size());
  float max_ref = 0, max_err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(ref[i]));
    max_err = std::max(max_err, std::fabs(emb.value().embeds[i] - ref[i]));
  }
  EXPECT_LE(max_err / max_ref, 1e-3f);
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  auto bad = e.encode_image(junk, "junk");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kCorruptData);
  EXPECT_EQ(e.metrics().images_encoded, 1);
  bool described = false;
  for (const auto& line : e.describe()) described |= line.rfind("vision model: gemma4v, 70 tokens/image", 0) == 0;
  EXPECT_TRUE(described);
}

TEST(EngineVision, WithoutMmprojImagesAreRefused) {
  auto engine = Engine::create(options(1));
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  const std::vector<uint8_t> bytes = {1, 2, 3};
  auto r = engine.value()->encode_image(bytes, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace specula::runtime
