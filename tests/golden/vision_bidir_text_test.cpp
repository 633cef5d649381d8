// Text side of images against transformers 5.17 (tests/data/vision_fixtures, independent of the vision tower):
// the fixtures' HF folders converted by specula, the prompt's soft-token rows replaced by the reference
// projector output (<image>.embeds.f32), all T logits compared with the reference forward (logits.f32).
//  * std_bidir (gemma4-spec.md §1.12): soft tokens of one image see each other on sliding layers (W = 24, smaller
//    than the blocks of 60 and 66). Through the float32 cache, the KvPool (f32 / f16 / bf16, sliding rings that
//    wrap), chunked prefill at several -ub values (chunks never split a block; -ub below a block is raised), and
//    plain causal attention, which matches logits_causal.f32 instead and misses logits.f32 by ~5 (the test can
//    fail). Greedy generation (plain and n-gram speculative) gives generate()'s 8 tokens.
//  * e_clip140: a causal model: the same comparison, chunks may split blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "golden_util.h"
#include "kv/kv_pool.h"
#include "model/text/text_model.h"
#include "runtime/generate.h"
#include "runtime/multimodal_generate.h"
#include "runtime/speculative.h"
#include "runtime/speculative_setup.h"
#include "vision_bidir_util.h"

namespace specula::test {
namespace {

struct Fixture {
  std::string name;
  nlohmann::json prompt;
  std::unique_ptr<model::TextModel> model;
  std::vector<runtime::ImageEmbedding> images;
  std::vector<model::ForwardRow> rows;
  std::vector<float> ref;
  float scale = 0;
};

Fixture load(const std::string& name) {
  Fixture f;
  f.name = name;
  f.prompt = read_json(vision_fixture(name) + "/prompt.json");
  auto m = model::TextModel::load(converted_text_model(name));
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  f.model = std::move(m.value());
  f.images = reference_embeddings(name, f.prompt);
  auto ids = runtime::image_token_ids(f.model->file());
  EXPECT_TRUE(ids.ok());
  EXPECT_EQ(ids.value().boi, 4);
  EXPECT_EQ(ids.value().soft, 6);
  EXPECT_EQ(ids.value().eoi, 5);
  const auto tokens = f.prompt.at("tokens").get<std::vector<int32_t>>();
  auto rows = runtime::multimodal_rows(tokens, ids.value(), f.images);
  EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().message());
  f.rows = std::move(rows.value());
  f.ref = read_f32(vision_fixture(name) + "/logits.f32");
  f.scale = max_abs(f.ref);
  return f;
}

// Logits through a fresh cache of the given types (f32/f32: the float32 reference cache).
std::vector<float> logits(ThreadPool& pool, Fixture& f, kv::KvType type, int ubatch, std::vector<size_t>* chunks) {
  std::vector<int32_t> ends;
  if (f.model->config().bidirectional_images) {
    for (const auto& r : f.rows) ends.push_back(r.block_end);
  }
  kv::KvPoolOptions o;
  o.type_k = o.type_v = type;
  o.n_ctx = static_cast<int>(f.rows.size());
  o.max_batch = runtime::max_prefill_chunk(ends, ubatch);
  auto cache = f.model->make_kv_cache(o);
  EXPECT_TRUE(cache.ok()) << (cache.ok() ? "" : cache.error().message());
  return chunked_logits(pool, *f.model, *cache.value(), f.rows, ubatch, chunks);
}

TEST(VisionBidirText, ConverterWritesTheBidirectionalKey) {
  auto bidir = format::GgufFile::open(converted_text_model("std_bidir"));
  ASSERT_TRUE(bidir.ok());
  EXPECT_TRUE(bidir->get_bool("gemma4.attention.bidirectional_vision").value());
  auto causal = format::GgufFile::open(converted_text_model("e_clip140"));
  ASSERT_TRUE(causal.ok());
  EXPECT_FALSE(causal->get_bool("gemma4.attention.bidirectional_vision").value());
  auto f = load("std_bidir");
  EXPECT_TRUE(f.model->config().bidirectional_images);
  EXPECT_EQ(f.model->config().sliding_window, 24);
  // multimodal_rows marks each soft-token row with its block's last position (prompt.json's image spans).
  for (const auto& span : f.prompt.at("image_spans")) {
    const int first = span.at("first_soft").get<int>(), n = span.at("n_soft").get<int>();
    for (int p = first; p < first + n; ++p) EXPECT_EQ(f.rows[static_cast<size_t>(p)].block_end, first + n - 1);
    EXPECT_EQ(f.rows[static_cast<size_t>(first - 1)].block_end, -1);  // <|image> and <image|> are text
    EXPECT_EQ(f.rows[static_cast<size_t>(first + n)].block_end, -1);
  }
}

TEST(VisionBidirText, AllLogitsMatchThroughEveryCacheAndChunking) {
  auto f = load("std_bidir");
  ThreadPool pool(2);
  const int t = static_cast<int>(f.rows.size());
  struct Case {
    kv::KvType type;
    float tol;
  };
  // f32: arithmetic only. f16 / bf16 K and V: the cache's rounding. (q8_0 cannot store this model's head
  // dimension of 16: make_kv_cache refuses it, checked below.)
  for (const Case c : {Case{kv::KvType::kF32, 5e-5f}, Case{kv::KvType::kF16, 5e-3f}, Case{kv::KvType::kBF16, 4e-2f}}) {
    for (const int ub : {t, 100, 61, 24, 7}) {
      std::vector<size_t> chunks;
      const float err = max_abs_diff(logits(pool, f, c.type, ub, &chunks), f.ref) / f.scale;
      std::printf("  std_bidir %s cache, -ub %3d (%zu chunks): max err %.2e of max |logit| %.3f\n",
                  kv::kv_type_name(c.type), ub, chunks.size(), static_cast<double>(err), static_cast<double>(f.scale));
      EXPECT_LE(err, c.tol) << kv::kv_type_name(c.type) << " ub " << ub;
      for (const size_t b : chunks) {  // every chunk boundary is outside the image blocks
        EXPECT_TRUE(b == 0 || f.rows[b].block_end < 0 || f.rows[b - 1].block_end != f.rows[b].block_end) << b;
      }
    }
  }
  kv::KvPoolOptions q8;
  q8.type_k = q8.type_v = kv::KvType::kQ8_0;
  q8.n_ctx = t;
  EXPECT_FALSE(f.model->make_kv_cache(q8).ok());
  // The KvPool with f32 entries (its own kernel and rings; make_kv_cache picks the reference cache for f32):
  // -ub 16 makes chunks of up to 66 rows, a ring of 24 + 66 + 1 = 91 < 148 entries that wraps.
  std::vector<int32_t> ends;
  for (const auto& r : f.rows) ends.push_back(r.block_end);
  kv::KvPoolOptions o;
  o.type_k = o.type_v = kv::KvType::kF32;
  o.n_ctx = t;
  o.max_batch = runtime::max_prefill_chunk(ends, 16);
  EXPECT_EQ(o.max_batch, 66);
  auto pool_cache = kv::KvPool::create(f.model->kv_pool_slots(), o);
  ASSERT_TRUE(pool_cache.ok());
  EXPECT_EQ(pool_cache.value()->ring_entries(), 91);
  const float err = max_abs_diff(chunked_logits(pool, *f.model, *pool_cache.value(), f.rows, 16, nullptr), f.ref) / f.scale;
  std::printf("  std_bidir KvPool f32 (ring of 91), -ub 16: max err %.2e\n", static_cast<double>(err));
  EXPECT_LE(err, 5e-5f);
}

TEST(VisionBidirText, CausalAttentionMatchesTheCausalReferenceInstead) {
  auto f = load("std_bidir");
  ThreadPool pool(2);
  f.model->set_bidirectional_images(false);
  const auto causal_ref = read_f32(vision_fixture("std_bidir") + "/logits_causal.f32");
  const auto got = logits(pool, f, kv::KvType::kF32, static_cast<int>(f.rows.size()), nullptr);
  const float err_causal = max_abs_diff(got, causal_ref) / max_abs(causal_ref);
  const float miss = max_abs_diff(got, f.ref);
  std::printf("  std_bidir with causal masks: %.2e of max |logit| from logits_causal.f32, %.3f from logits.f32\n",
              static_cast<double>(err_causal), static_cast<double>(miss));
  EXPECT_LE(err_causal, 5e-5f);
  EXPECT_GT(miss, 1.0f);  // prompt.json: 5.08
}

TEST(VisionBidirText, SplitBlocksAndUnmarkedImageRowsAreErrors) {
  auto f = load("std_bidir");
  ThreadPool pool(2);
  auto cache = f.model->make_cache(1, static_cast<int>(f.rows.size()));
  ASSERT_TRUE(cache.ok());
  // Positions 0..29 end inside the first block (8..67).
  const std::vector<int32_t> last = {29};
  std::vector<float> out(static_cast<size_t>(f.model->vocab()));
  auto st = f.model->forward(pool, cache.value(), std::span(f.rows.data(), 30), {last, out.data(), nullptr});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("not whole"), std::string::npos) << st.error().message();
  auto unmarked = f.rows;
  unmarked[8].block_end = -1;
  const std::vector<int32_t> last_all = {static_cast<int32_t>(unmarked.size() - 1)};
  st = f.model->forward(pool, cache.value(), unmarked, {last_all, out.data(), nullptr});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("block_end"), std::string::npos) << st.error().message();
  // Rows without block_end (as a caller that only passes embeddings builds them): a split block is refused too.
  auto bare = f.rows;
  for (auto& r : bare) r.block_end = -1;
  st = f.model->forward(pool, cache.value(), std::span(bare.data(), 30), {last, out.data(), nullptr});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("not whole"), std::string::npos) << st.error().message();
  // The chunker: a chunk that would end inside a block ends before it; one that starts with it takes all of it.
  std::vector<int32_t> ends;
  for (const auto& r : f.rows) ends.push_back(r.block_end);
  EXPECT_EQ(runtime::prefill_chunk_end(ends, 0, ends.size(), 30), 8u);
  EXPECT_EQ(runtime::prefill_chunk_end(ends, 8, ends.size(), 30), 68u);
  EXPECT_EQ(runtime::prefill_chunk_end(ends, 8, ends.size(), 70), 73u);  // 78 is inside the second block
  EXPECT_EQ(runtime::prefill_chunk_end({}, 0, ends.size(), 30), 30u);
}

// Embedding rows without block_end whose block is whole in the batch (bracketed by its <|image> and <image|>
// rows, as the server's chunker keeps them) get their block from the batch: the same logits.
TEST(VisionBidirText, BlocksAreInferredWhenWholeInTheBatch) {
  auto f = load("std_bidir");
  ThreadPool pool(2);
  for (auto& r : f.rows) r.block_end = -1;
  const size_t n = f.rows.size(), vocab = static_cast<size_t>(f.model->vocab());
  auto cache = f.model->make_cache(1, static_cast<int>(n));
  ASSERT_TRUE(cache.ok());
  std::vector<float> got(n * vocab);
  // Chunks as the server's chunker makes them: each image from its <|image> row past its <image|> row.
  const std::vector<size_t> cuts = {0, 7, 70, 72, n};
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    const size_t begin = cuts[c], end = cuts[c + 1];
    std::vector<int32_t> out_rows;
    for (size_t i = begin; i < end; ++i) out_rows.push_back(static_cast<int32_t>(i - begin));
    const auto st = f.model->forward(pool, cache.value(), std::span(f.rows.data() + begin, end - begin),
                                     {out_rows, got.data() + begin * vocab, nullptr});
    ASSERT_TRUE(st.ok()) << st.error().message();
  }
  const float err = max_abs_diff(got, f.ref) / f.scale;
  std::printf("  std_bidir, blocks inferred from bracketed embedding rows: max err %.2e\n", static_cast<double>(err));
  EXPECT_LE(err, 5e-5f);
}

TEST(VisionBidirText, CausalModelMatchesItsReference) {
  auto f = load("e_clip140");
  EXPECT_FALSE(f.model->config().bidirectional_images);
  ThreadPool pool(2);
  for (const int ub : {static_cast<int>(f.rows.size()), 50}) {  // 50: chunks split the blocks (causal: allowed)
    const float err = max_abs_diff(logits(pool, f, kv::KvType::kF32, ub, nullptr), f.ref) / f.scale;
    std::printf("  e_clip140, -ub %d: max err %.2e of max |logit| %.3f\n", ub, static_cast<double>(err),
                static_cast<double>(f.scale));
    EXPECT_LE(err, 5e-5f);
  }
}

// generate()'s greedy tokens (prompt.json) from our generation loops: plain, and n-gram speculative (the same
// verify path as MTP drafting; greedy with drafts must equal greedy without).
TEST(VisionBidirText, GreedyGenerationMatchesReference) {
  auto f = load("std_bidir");
  ThreadPool pool(2);
  const auto want = f.prompt.at("generated_tokens").get<std::vector<int32_t>>();
  runtime::MultimodalPrompt mm;
  for (const auto& r : f.rows) {
    mm.tokens.push_back(r.token);
    mm.embeddings.push_back(r.embedding);  // points into f.images, which outlives mm
  }
  runtime::SamplerParams greedy;
  greedy.temperature = 0.0f;
  const auto make_cache = [&](kv::KvType type, int ub) {
    kv::KvPoolOptions o;
    o.type_k = o.type_v = type;
    o.n_ctx = 256;
    o.max_batch = runtime::max_prefill_chunk(runtime::prefill_block_ends(*f.model, mm.embeddings), ub);
    auto c = f.model->make_kv_cache(o);
    EXPECT_TRUE(c.ok());
    return std::move(c.value());
  };
  for (const kv::KvType type : {kv::KvType::kF32, kv::KvType::kF16}) {
    for (const int ub : {16, 512}) {
      auto cache = make_cache(type, ub);
      runtime::Sampler sampler(runtime::SamplerConfig::create(greedy, f.model->vocab()).value());
      runtime::GenerateOptions o;
      o.ubatch = ub;
      o.max_tokens = static_cast<int>(want.size());
      std::vector<int32_t> plain;
      auto st = runtime::generate_multimodal(pool, *f.model, *cache, mm, sampler, o,
                                             [&](int32_t t) { plain.push_back(t); return true; });
      ASSERT_TRUE(st.ok()) << st.error().message();
      if (type == kv::KvType::kF32) {
        EXPECT_EQ(plain, want) << "generate, -ub " << ub;
      }

      auto spec = runtime::Speculator::create(config::SpecNgram{3, 1, 3}, *f.model);
      ASSERT_TRUE(spec.ok());
      auto spec_cache = make_cache(type, ub);
      runtime::Sampler s2(runtime::SamplerConfig::create(greedy, f.model->vocab()).value());
      runtime::SpecOptions so;
      so.n_draft = 3;
      so.ubatch = ub;
      so.max_tokens = static_cast<int>(want.size());
      const runtime::SpecSequence seq{mm.tokens, &s2, mm.embeddings};
      auto r = runtime::speculative_generate(pool, *f.model, *spec_cache, std::span(&seq, 1), spec.value()->source(),
                                             so, [](size_t, int32_t) { return true; });
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(r.value().sequences[0].tokens, plain) << "n-gram speculative vs plain, " << kv::kv_type_name(type)
                                                      << ", -ub " << ub;
      EXPECT_GT(r.value().stats.n_accepted, 0);  // an accepted draft's verify rows stay in the cache
      std::printf("  n-gram on std_bidir, %s, -ub %d: %lld drafted, %lld accepted\n", kv::kv_type_name(type), ub,
                  static_cast<long long>(r.value().stats.n_drafted), static_cast<long long>(r.value().stats.n_accepted));
    }
  }
}

}  // namespace
}  // namespace specula::test
