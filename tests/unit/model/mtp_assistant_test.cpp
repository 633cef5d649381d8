// MTP assistant loading: architecture and compatibility errors (both values named), malformed files, and the
// centroid (masked) head against an independent scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <set>

#include "format/gguf_writer.h"
#include "model/mtp/mtp_drafter.h"
#include "test_paths.h"

namespace specula::model {
namespace {

std::string mtp_dir() { return test::shared_dir() + "/fixtures/llamacpp/mtp"; }

std::unique_ptr<TextModel> load_target(const std::string& path) {
  auto t = TextModel::load(path);
  EXPECT_TRUE(t.ok()) << t.error().message();
  return t.ok() ? std::move(t.value()) : nullptr;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(MtpAssistant, LoadsTheFixtureAssistant) {
  auto target = load_target(mtp_dir() + "/llamacpp-f32.gguf");
  auto d = MtpDrafter::load(mtp_dir() + "/assistant-llamacpp-f32.gguf", *target);
  ASSERT_TRUE(d.ok()) << d.error().message();
  const AssistantConfig& c = d.value()->config();
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.hidden, 24);
  EXPECT_EQ(c.backbone, 48);
  EXPECT_EQ(c.vocab, 400);
  EXPECT_EQ(c.sliding_window, 5);
  EXPECT_TRUE(c.layers[0].sliding && c.layers[1].sliding && !c.layers[2].sliding);
  EXPECT_EQ(c.layers[0].head_dim, 32);
  EXPECT_EQ(c.layers[2].head_dim, 64);
  EXPECT_FALSE(d.value()->centroid_head());
  // The target's last KV-owning layers: sliding = layer 2, full = layer 1 (README: KV sharing 3).
  const TextConfig& t = target->config();
  EXPECT_EQ(d.value()->target_slots().sliding, t.layers[2].kv_slot);
  EXPECT_EQ(d.value()->target_slots().full, t.layers[1].kv_slot);
}

TEST(MtpAssistant, RefusesATextModelAsAssistant) {
  auto target = load_target(mtp_dir() + "/llamacpp-f32.gguf");
  auto d = MtpDrafter::load(mtp_dir() + "/llamacpp-f32.gguf", *target);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(d.error().message(), "'gemma4'")) << d.error().message();
  EXPECT_TRUE(contains(d.error().message(), "gemma4-assistant")) << d.error().message();
}

TEST(MtpAssistant, RefusesAnotherTarget) {
  // text_e has the same hidden size (48) but a vocabulary of 416.
  auto target = load_target(test::shared_dir() + "/fixtures/llamacpp/text_e/llamacpp-f32.gguf");
  auto d = MtpDrafter::load(mtp_dir() + "/assistant-llamacpp-f32.gguf", *target);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(contains(d.error().message(), "400") && contains(d.error().message(), "416")) << d.error().message();
}

TEST(MtpAssistant, CompatibilityErrorsNameBothValues) {
  auto target = load_target(mtp_dir() + "/llamacpp-f32.gguf");
  auto f = format::GgufFile::open(mtp_dir() + "/assistant-llamacpp-f32.gguf");
  ASSERT_TRUE(f.ok());
  auto base = read_assistant_config(f.value());
  ASSERT_TRUE(base.ok()) << base.error().message();
  base->vocab = 400;
  ASSERT_TRUE(check_assistant_compatible(*base, target->config(), 400).ok());
  struct Case {
    std::function<void(AssistantConfig&)> mutate;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {[](AssistantConfig& c) { c.backbone = 64; }, {"embedding_length_out", "64", "48"}},
      {[](AssistantConfig& c) { c.layers[0].n_kv_heads = 2; }, {"layer 0", "sliding", "2 KV heads", "has 1"}},
      {[](AssistantConfig& c) { c.layers[2].head_dim = 128; }, {"layer 2", "full", "head dim 128", "has 64"}},
      {[](AssistantConfig& c) { c.vocab = 401; }, {"401", "400"}},
  };
  for (const auto& k : cases) {
    AssistantConfig c = *base;
    k.mutate(c);
    const Status st = check_assistant_compatible(c, target->config(), 400);
    ASSERT_FALSE(st.ok());
    for (const auto& part : k.parts) EXPECT_TRUE(contains(st.error().message(), part)) << st.error().message();
  }
}

// A copy of the fixture assistant with edits: extra metadata, dropped tensors, added tensors.
struct Edit {
  std::vector<std::pair<std::string, format::GgufValue>> set;
  std::set<std::string> drop;
  std::function<Status(format::GgufWriter&)> add;
};

std::string write_variant(const Edit& e) {
  auto f = format::GgufFile::open(mtp_dir() + "/assistant-llamacpp-f32.gguf");
  EXPECT_TRUE(f.ok());
  format::GgufWriter w;
  for (const auto& [k, v] : f->metadata()) {
    if (k != "general.alignment") {
      EXPECT_TRUE(w.set(k, v).ok());
    }
  }
  for (const auto& [k, v] : e.set) {
    w.erase(k);
    EXPECT_TRUE(w.set(k, v).ok());
  }
  for (const auto& t : f->tensors()) {
    if (e.drop.count(t.name)) continue;
    const auto data = f->tensor_data(t);
    EXPECT_TRUE(w.add_tensor_copy(t.name, t.type, t.dims, std::vector<uint8_t>(data.begin(), data.end())).ok());
  }
  if (e.add) {
    EXPECT_TRUE(e.add(w).ok());
  }
  const std::string path = test::temp_dir() + "/assistant.gguf";
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

std::vector<uint8_t> bytes_of(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return std::vector<uint8_t>(b, b + n);
}

TEST(MtpAssistant, MalformedFilesAreClearErrors) {
  auto target = load_target(mtp_dir() + "/llamacpp-f32.gguf");
  const auto expect_error = [&](const Edit& e, const std::string& part) {
    auto d = MtpDrafter::load(write_variant(e), *target);
    ASSERT_FALSE(d.ok()) << part;
    EXPECT_TRUE(contains(d.error().message(), part)) << d.error().message();
  };
  expect_error({{}, {"nextn.pre_projection.weight"}, nullptr}, "missing tensor 'nextn.pre_projection.weight'");
  expect_error({{}, {}, [](format::GgufWriter& w) {
                  const std::vector<float> x(24, 1.0f);
                  return w.add_tensor_copy("blk.9.attn_k.weight", format::GgmlType::kF32, {24}, bytes_of(x.data(), 96));
                }}, "unexpected tensors");
  expect_error({{{"gemma4-assistant.attention.shared_kv_layers", format::GgufValue::u32(2)}}, {}, nullptr},
               "shared_kv_layers is 2");
  expect_error({{}, {}, [](format::GgufWriter& w) {  // centroids without the ordering
                  const std::vector<float> x(24 * 8, 0.5f);
                  return w.add_tensor_copy(kCentroidsTensor, format::GgmlType::kF32, {24, 8}, bytes_of(x.data(), x.size() * 4));
                }}, "needs both");
  expect_error({{}, {}, [](format::GgufWriter& w) -> Status {  // an ordering that is not a permutation
                  const std::vector<float> x(24 * 40, 0.5f);
                  std::vector<int32_t> ord(400, 7);
                  SPECULA_RETURN_IF_ERROR(w.add_tensor_copy(kCentroidsTensor, format::GgmlType::kF32, {24, 40},
                                                            bytes_of(x.data(), x.size() * 4)));
                  return w.add_tensor_copy(kOrderingTensor, format::GgmlType::kI32, {400}, bytes_of(ord.data(), 1600));
                }}, "not a permutation");
}

// Least-squares solve of E x = logits (E: [V, H] embedding rows) in double: recovers the assistant's final-norm
// state x from its full-head logits, so that the test can score centroids itself.
std::vector<double> recover_state(const std::vector<float>& e, const std::vector<float>& logits, int v, int h) {
  std::vector<double> a(static_cast<size_t>(h * h), 0.0), b(static_cast<size_t>(h), 0.0);
  for (int t = 0; t < v; ++t) {
    for (int i = 0; i < h; ++i) {
      b[i] += static_cast<double>(e[t * h + i]) * static_cast<double>(logits[t]);
      for (int j = 0; j < h; ++j) a[i * h + j] += static_cast<double>(e[t * h + i]) * static_cast<double>(e[t * h + j]);
    }
  }
  for (int c = 0; c < h; ++c) {  // Gauss-Jordan (A is symmetric positive definite)
    for (int r = 0; r < h; ++r) {
      if (r == c) continue;
      const double f = a[r * h + c] / a[c * h + c];
      for (int j = 0; j < h; ++j) a[r * h + j] -= f * a[c * h + j];
      b[r] -= f * b[c];
    }
  }
  for (int i = 0; i < h; ++i) b[i] /= a[i * h + i];
  return b;
}

TEST(MtpAssistant, CentroidHeadScoresOnlyTheTopCentroidBlocks) {
  constexpr int kV = 400, kH = 24, kCentroids = 8, kTopK = 3, kBlock = kV / kCentroids;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  std::vector<float> centroids(kCentroids * kH);
  for (auto& x : centroids) x = normal(rng);
  std::vector<int32_t> ordering(kV);
  std::iota(ordering.begin(), ordering.end(), 0);
  std::shuffle(ordering.begin(), ordering.end(), rng);
  Edit e{{{kAssistantCentroidTopKKey, format::GgufValue::u32(kTopK)}}, {}, [&](format::GgufWriter& w) -> Status {
           SPECULA_RETURN_IF_ERROR(w.add_tensor_copy(kCentroidsTensor, format::GgmlType::kF32, {kH, kCentroids},
                                                     bytes_of(centroids.data(), centroids.size() * 4)));
           return w.add_tensor_copy(kOrderingTensor, format::GgmlType::kI32, {kV}, bytes_of(ordering.data(), kV * 4));
         }};
  auto target = load_target(mtp_dir() + "/llamacpp-f32.gguf");
  auto masked = MtpDrafter::load(write_variant(e), *target);
  ASSERT_TRUE(masked.ok()) << masked.error().message();
  ASSERT_TRUE(masked.value()->centroid_head());
  auto dense = MtpDrafter::load(mtp_dir() + "/assistant-llamacpp-f32.gguf", *target);
  ASSERT_TRUE(dense.ok());
  auto f = format::GgufFile::open(mtp_dir() + "/assistant-llamacpp-f32.gguf");
  const auto embd_bytes = f->tensor_data(*f->find_tensor("token_embd.weight"));
  std::vector<float> embd(kV * kH);
  std::memcpy(embd.data(), embd_bytes.data(), embd.size() * 4);

  // A K/V of 10 random entries for both source slots.
  auto cache = target->make_cache(1, 16);
  ASSERT_TRUE(cache.ok());
  for (int slot = 0; slot < static_cast<int>(target->kv_slot_shapes().size()); ++slot) {
    const int w = cache->shape(slot).width();
    for (int pos = 0; pos < 10; ++pos) {
      for (int j = 0; j < w; ++j) {
        cache->k(slot, 0, pos)[j] = normal(rng) * 5.0f;
        cache->v(slot, 0, pos)[j] = normal(rng) * 5.0f;
      }
    }
  }
  ThreadPool pool(1);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<float> h(48);
    for (auto& x : h) x = normal(rng) * 5.0f;
    const DraftStepRow row{static_cast<int32_t>(3 + 50 * trial), h.data(), 10, 0, 10};
    std::vector<float> full(kV), got(kV);
    ASSERT_TRUE(dense.value()->step(pool, cache.value(), dense.value()->target_slots(), std::span(&row, 1),
                                    {full.data(), nullptr, nullptr}).ok());
    ASSERT_TRUE(masked.value()->step(pool, cache.value(), masked.value()->target_slots(), std::span(&row, 1),
                                     {got.data(), nullptr, nullptr}).ok());
    // Reference: centroid scores from the recovered state, top 3 blocks of the ordering.
    const auto x = recover_state(embd, full, kV, kH);
    std::vector<std::pair<double, int>> scores;
    for (int c = 0; c < kCentroids; ++c) {
      double s = 0;
      for (int j = 0; j < kH; ++j) s += static_cast<double>(centroids[c * kH + j]) * x[j];
      scores.push_back({-s, c});
    }
    std::sort(scores.begin(), scores.end());
    std::set<int32_t> cand;
    for (int k = 0; k < kTopK; ++k) {
      for (int b = 0; b < kBlock; ++b) cand.insert(ordering[scores[k].second * kBlock + b]);
    }
    float min_in = INFINITY;
    for (const int32_t t : cand) min_in = std::min(min_in, full[t]);
    for (int t = 0; t < kV; ++t) {
      const float want = cand.count(t) ? full[t] : min_in - 1.0f;
      EXPECT_NEAR(got[t], want, 1e-4f) << "trial " << trial << " token " << t;
    }
  }
}

}  // namespace
}  // namespace specula::model
