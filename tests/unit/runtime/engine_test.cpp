// The serving engine on `synth --preset tiny`: requests batched in several slots (more requests than slots, prompts
// longer than a prefill chunk) produce exactly the greedy tokens of runtime::generate alone, with and without MTP
// drafting; a cancelled request frees its slot; a full queue and an oversized prompt are refused.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

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

// The reference: one sequence through runtime::generate with the same cache type and prefill chunk.
Ids alone(const Ids& prompt) {
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
              }).ok());
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
                    StopConfig::create(sp).value(), -1, true, false, std::make_shared<RequestChannel>()};
}

// Reads events until kDone; returns the tokens (empty on an error or a timeout).
Ids collect(RequestChannel& c) {
  Ids out;
  for (int i = 0; i < 300; ++i) {
    auto e = c.pop(std::chrono::milliseconds(100));
    if (!e) continue;
    if (e->kind == RequestEvent::Kind::kError) return {};
    out.insert(out.end(), e->tokens.begin(), e->tokens.end());
    if (e->kind == RequestEvent::Kind::kDone) return out;
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

}  // namespace
}  // namespace specula::runtime
