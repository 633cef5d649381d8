#include "golden_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "test_paths.h"

namespace specula::test {

std::string fixture_dir(const std::string& name) { return shared_dir() + "/fixtures/llamacpp/" + name; }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in);
}

std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in.good()) << path;
  const auto size = static_cast<size_t>(in.tellg());
  std::vector<float> v(size / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

std::vector<float> run_logits(ThreadPool& pool, model::TextModel& m, const std::vector<int32_t>& tokens, int ubatch) {
  const size_t vocab = static_cast<size_t>(m.vocab());
  auto cache = m.make_cache(1, static_cast<int>(tokens.size()) + 1);
  EXPECT_TRUE(cache.ok());
  std::vector<float> logits(tokens.size() * vocab);
  for (size_t begin = 0; begin < tokens.size(); begin += static_cast<size_t>(ubatch)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(ubatch));
    std::vector<model::ForwardRow> rows;
    std::vector<int32_t> out_rows;
    for (size_t i = begin; i < end; ++i) {
      rows.push_back({tokens[i], static_cast<int32_t>(i), 0, nullptr});
      out_rows.push_back(static_cast<int32_t>(i - begin));
    }
    const auto st = m.forward(pool, cache.value(), rows, {out_rows, logits.data() + begin * vocab, nullptr});
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message());
  }
  return logits;
}

std::vector<int32_t> run_greedy(ThreadPool& pool, model::TextModel& m, const std::vector<int32_t>& prompt, int n) {
  const size_t vocab = static_cast<size_t>(m.vocab());
  auto cache = m.make_cache(1, static_cast<int>(prompt.size()) + n + 1);
  EXPECT_TRUE(cache.ok());
  std::vector<float> logits(vocab);
  std::vector<model::ForwardRow> rows;
  for (size_t i = 0; i < prompt.size(); ++i) rows.push_back({prompt[i], static_cast<int32_t>(i), 0, nullptr});
  std::vector<int32_t> last = {static_cast<int32_t>(rows.size() - 1)};
  std::vector<int32_t> out;
  EXPECT_TRUE(m.forward(pool, cache.value(), rows, {last, logits.data(), nullptr}).ok());
  for (int step = 0; step < n; ++step) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    if (step + 1 == n) break;
    const model::ForwardRow row{next, static_cast<int32_t>(prompt.size() + out.size() - 1), 0, nullptr};
    const std::vector<int32_t> zero = {0};
    EXPECT_TRUE(m.forward(pool, cache.value(), std::span(&row, 1), {zero, logits.data(), nullptr}).ok());
  }
  return out;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace specula::test
