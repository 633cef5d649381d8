// Golden tests of the text decoder against transformers 5.17 (float32, eager) on tiny random Gemma 4
// models converted by llama.cpp's converter (../shared/fixtures/llamacpp/README.md).
#include <gtest/gtest.h>

#include "golden_util.h"

namespace specula::test {
namespace {

struct Case {
  const char* fixture;
  const char* gguf;
  const char* logits;
  float rel_tol;  // max abs error / max |logit|
};

std::vector<int32_t> tokens_of(const nlohmann::json& j) { return j.at("tokens").get<std::vector<int32_t>>(); }

class TextGolden : public ::testing::TestWithParam<Case> {};

TEST_P(TextGolden, LogitsMatchReferenceForEveryChunking) {
  const Case& c = GetParam();
  const std::string dir = fixture_dir(c.fixture);
  auto model = model::TextModel::load(dir + "/" + c.gguf);
  ASSERT_TRUE(model.ok()) << model.error().message();
  const auto tokens = tokens_of(read_json(dir + "/tokens.json"));
  const auto want = read_f32(dir + "/" + c.logits);
  ASSERT_EQ(want.size(), tokens.size() * static_cast<size_t>(model.value()->vocab()));
  ThreadPool pool(2);
  const float scale = max_abs(want);
  // Full prefill, token by token, and chunks that cross the sliding window.
  for (int ubatch : {static_cast<int>(tokens.size()), 1, 3, 7, 16}) {
    const auto got = run_logits(pool, *model.value(), tokens, ubatch);
    const float err = max_abs_diff(got, want);
    std::printf("  %s/%s ubatch %d: max |error| / max |logit| = %.2e\n", c.fixture, c.gguf, ubatch, static_cast<double>(err / scale));
    EXPECT_LE(err, c.rel_tol * scale) << c.fixture << "/" << c.gguf << " ubatch=" << ubatch;
  }
}

TEST(TextGreedy, ContinuationMatchesReference) {
  for (const char* fixture : {"text_e", "text_moe"}) {
    const std::string dir = fixture_dir(fixture);
    auto model = model::TextModel::load(dir + "/llamacpp-f32.gguf");
    ASSERT_TRUE(model.ok()) << model.error().message();
    const auto greedy = read_json(dir + "/greedy.json");
    const auto prompt = greedy.at("prompt_tokens").get<std::vector<int32_t>>();
    const auto want = greedy.at("generated_tokens").get<std::vector<int32_t>>();
    ThreadPool pool(2);
    EXPECT_EQ(run_greedy(pool, *model.value(), prompt, static_cast<int>(want.size())), want) << fixture;
  }
}

// f32 weights: arithmetic differences only (1e-4 of max |logit|). f16 weights: the reference used the same
// f16-rounded weights in float32, so the bound stays tight.
INSTANTIATE_TEST_SUITE_P(Fixtures, TextGolden,
                         ::testing::Values(Case{"text_e", "llamacpp-f32.gguf", "logits.f32", 1e-4f},
                                           Case{"text_e", "llamacpp-f16.gguf", "logits_f16w.f32", 1e-4f},
                                           Case{"text_moe", "llamacpp-f32.gguf", "logits.f32", 1e-4f},
                                           Case{"text_moe", "llamacpp-f16.gguf", "logits_f16w.f32", 1e-4f}),
                         [](const auto& param_info) {
                           std::string n = std::string(param_info.param.fixture) + "_" + param_info.param.gguf;
                           for (auto& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

TEST(TextGreedy, MtpTargetMatchesReference) {
  const std::string dir = fixture_dir("mtp");
  auto model = model::TextModel::load(dir + "/llamacpp-f32.gguf");
  ASSERT_TRUE(model.ok()) << model.error().message();
  const auto mtp = read_json(dir + "/mtp.json");
  ThreadPool pool(2);
  for (const auto& p : mtp.at("prompts")) {
    const auto prompt = p.at("tokens").get<std::vector<int32_t>>();
    const auto want = p.at("plain_greedy_tokens").get<std::vector<int32_t>>();
    EXPECT_EQ(run_greedy(pool, *model.value(), prompt, static_cast<int>(want.size())), want);
    // Logits of the whole greedy sequence against the reference forward.
    const auto seq = p.at("greedy_seq_tokens").get<std::vector<int32_t>>();
    const auto ref = read_f32(dir + "/" + p.at("greedy_seq_logits_file").get<std::string>());
    const auto got = run_logits(pool, *model.value(), seq, 8);
    EXPECT_LE(max_abs_diff(got, ref), 1e-4f * max_abs(ref));
  }
}

}  // namespace
}  // namespace specula::test
