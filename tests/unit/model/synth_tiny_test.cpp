// synth tiny / tiny-moe written to disk: they load through TextModel::load, are a few MB, are identical for
// any thread count, and their values follow the documented distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "model/synth/synth.h"
#include "model/text/text_model.h"
#include "quant/quant.h"
#include "test_paths.h"

namespace specula::model {
namespace {

std::string write(const std::string& preset, quant::FileType type, int threads, uint64_t seed = 0,
                  int64_t pooled = kSynthPooledElements) {
  SynthOptions o;
  o.preset = preset;
  o.file_type = type;
  o.seed = seed;
  o.pooled_min_elements = pooled;
  const std::string path = test::temp_dir() + "/" + preset + ".gguf";
  ThreadPool pool(threads);
  const Status st = synth_model(o, path, pool);
  EXPECT_TRUE(st.ok()) << st.error().message();
  return path;
}

std::vector<float> values(const format::GgufFile& f, const std::string& name) {
  const auto* t = f.find_tensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  std::vector<float> out(t->n_elements);
  const int64_t cols = t->dims[0];
  const size_t row_bytes = format::ggml_row_bytes(t->type, static_cast<size_t>(cols));
  const auto data = f.tensor_data(*t);
  for (int64_t r = 0; r < t->rows(); ++r) {
    quant::dequantize_row(t->type, data.data() + static_cast<size_t>(r) * row_bytes, out.data() + r * cols, cols);
  }
  return out;
}

TEST(SynthTiny, LoadsAndIsSmall) {
  const std::pair<const char*, quant::FileType> kCases[] = {{"tiny", quant::FileType::kMostlyF16},
                                                            {"tiny", quant::FileType::kMostlyQ4_K_M},
                                                            {"tiny-moe", quant::FileType::kMostlyF16},
                                                            {"tiny-moe", quant::FileType::kMostlyQ8_0}};
  for (const auto& [preset, type] : kCases) {
    {
      const std::string path = write(preset, type, 2);
      auto m = TextModel::load(path);
      ASSERT_TRUE(m.ok()) << preset << ": " << m.error().message();
      EXPECT_EQ((*m)->vocab(), 512);
      auto size = read_file(path);
      EXPECT_LT(size->size(), 16u << 20) << preset;  // a few MB
    }
  }
}

TEST(SynthTiny, SameFileForAnyThreadCountAndSeedMatters) {
  const auto a = read_file(write("tiny", quant::FileType::kMostlyQ8_0, 1));
  const auto b = read_file(write("tiny", quant::FileType::kMostlyQ8_0, 2));
  const auto c = read_file(write("tiny", quant::FileType::kMostlyQ8_0, 2, /*seed=*/7));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(*a == *b);
  EXPECT_FALSE(*a == *c);
  // The pooled K-quant path as well.
  const auto d = read_file(write("tiny", quant::FileType::kMostlyQ4_K_M, 1, 0, /*pooled=*/0));
  const auto e = read_file(write("tiny", quant::FileType::kMostlyQ4_K_M, 2, 0, /*pooled=*/0));
  EXPECT_TRUE(*d == *e);
}

TEST(SynthTiny, Distributions) {
  auto f = format::GgufFile::open(write("tiny", quant::FileType::kAllF32, 2));
  ASSERT_TRUE(f.ok());
  // A matrix: U(-a, a) with a = sqrt(3 / cols): mean 0, variance 1 / cols, never 0, never beyond a.
  for (const char* name : {"blk.0.attn_q.weight", "blk.5.ffn_down.weight", "token_embd.weight"}) {
    const auto v = values(*f, name);
    const int64_t cols = f->find_tensor(name)->dims[0];
    const double a = std::sqrt(3.0 / static_cast<double>(cols));
    double sum = 0, sq = 0;
    for (const float x : v) {
      ASSERT_NE(x, 0.0f) << name;
      ASSERT_LT(std::fabs(x), a) << name;
      sum += static_cast<double>(x);
      sq += static_cast<double>(x) * static_cast<double>(x);
    }
    const double n = static_cast<double>(v.size());
    EXPECT_NEAR(sum / n, 0.0, 4 * std::sqrt(1.0 / static_cast<double>(cols) / n)) << name;
    EXPECT_NEAR(sq / n * static_cast<double>(cols), 1.0, 0.05) << name;
  }
  // per_layer_token_embd: variance 1 / ple_dim (32), so that x sqrt(32) gives unit size.
  {
    const auto v = values(*f, "per_layer_token_embd.weight");
    double sq = 0;
    for (const float x : v) sq += static_cast<double>(x) * static_cast<double>(x);
    EXPECT_NEAR(sq / static_cast<double>(v.size()) * 32.0, 1.0, 0.05);
  }
  for (const char* name : {"blk.0.attn_norm.weight", "output_norm.weight", "per_layer_proj_norm.weight"}) {
    for (const float x : values(*f, name)) {
      ASSERT_GT(x, 0.5f) << name;
      ASSERT_LT(x, 1.5f) << name;
    }
  }
  for (int i = 0; i < 8; ++i) {
    const auto s = values(*f, "blk." + std::to_string(i) + ".layer_output_scale.weight");
    ASSERT_EQ(s.size(), 1u);
    EXPECT_GT(s[0], 0.7f);
    EXPECT_LT(s[0], 1.3f);
  }
  // head_dim_full 128 -> 64 pairs; partial_rotary_factor 0.25 -> 16 rotate (factor 1), 48 do not (1e30).
  const auto rope = values(*f, "rope_freqs.weight");
  ASSERT_EQ(rope.size(), 64u);
  for (size_t i = 0; i < 64; ++i) EXPECT_EQ(rope[i], i < 16 ? 1.0f : 1e30f) << i;
}

TEST(SynthTiny, PooledBlocksKeepTheDistribution) {
  auto f = format::GgufFile::open(write("tiny", quant::FileType::kMostlyQ4_K_M, 2, 0, /*pooled=*/0));
  ASSERT_TRUE(f.ok());
  const auto* t = f->find_tensor("blk.4.ffn_gate.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, format::GgmlType::kQ4_K);
  const auto v = values(*f, "blk.4.ffn_gate.weight");
  double sq = 0;
  for (const float x : v) sq += static_cast<double>(x) * static_cast<double>(x);
  // Q4_K of U(-a, a) keeps the variance within a few percent.
  EXPECT_NEAR(sq / static_cast<double>(v.size()) * 256.0, 1.0, 0.1);
}

TEST(SynthTiny, Tokenizer) {
  auto f = format::GgufFile::open(write("tiny", quant::FileType::kMostlyQ8_0, 2));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->get_string("tokenizer.ggml.model").value(), "gemma4");
  const auto* tokens = f->get_array("tokenizer.ggml.tokens").value();
  const auto* types = f->get_array("tokenizer.ggml.token_type").value();
  ASSERT_EQ(tokens->items.size(), 512u);
  ASSERT_EQ(types->items.size(), 512u);
  auto id_of = [&](const std::string& piece) -> int64_t {
    for (size_t i = 0; i < tokens->items.size(); ++i) {
      if (*tokens->items[i].as_string() == piece) return static_cast<int64_t>(i);
    }
    return -1;
  };
  auto type_of = [&](const std::string& piece) {
    return types->items[static_cast<size_t>(id_of(piece))].as_int().value();
  };
  // Gemma 4 chat-format tokens: control, except the ones llama.cpp keeps visible (user-defined).
  for (const char* p :
       {"<bos>", "<eos>", "<pad>", "<unk>", "<|turn>", "<turn|>", "<|think|>", "<|image>", "<|image|>", "<image|>"}) {
    ASSERT_GE(id_of(p), 0) << p;
    EXPECT_EQ(type_of(p), 3) << p;
  }
  for (const char* p : {"<|channel>", "<channel|>", "<|tool_call>", "<|tool_response>"}) EXPECT_EQ(type_of(p), 4) << p;
  for (int b = 0; b < 256; ++b) EXPECT_EQ(type_of(fmt::format("<0x{:02X}>", b)), 6);
  EXPECT_EQ(type_of("\xe2\x96\x81"), 1);
  EXPECT_EQ(f->get_int("tokenizer.ggml.bos_token_id").value(), id_of("<bos>"));
  EXPECT_EQ(f->get_int("tokenizer.ggml.eos_token_id").value(), id_of("<eos>"));
  EXPECT_TRUE(f->get_bool("tokenizer.ggml.add_bos_token").value());
  EXPECT_FALSE(f->get_bool("tokenizer.ggml.add_space_prefix").value());
  // Every merge joins two existing pieces into an existing piece.
  for (const auto& m : f->get_array("tokenizer.ggml.merges").value()->items) {
    const std::string& s = *m.as_string();
    const size_t sp = s.find(' ');
    ASSERT_NE(sp, std::string::npos);
    EXPECT_GE(id_of(s.substr(0, sp)), 0) << s;
    EXPECT_GE(id_of(s.substr(sp + 1)), 0) << s;
    EXPECT_GE(id_of(s.substr(0, sp) + s.substr(sp + 1)), 0) << s;
  }
  EXPECT_NE(f->get_string("tokenizer.chat_template").value().find("<|turn>"), std::string::npos);
}

}  // namespace
}  // namespace specula::model
