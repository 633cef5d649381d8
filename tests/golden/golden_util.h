// Helpers for golden tests against the transformers reference fixtures in ../shared/fixtures/llamacpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/thread_pool.h"
#include "model/text/text_model.h"

namespace specula::test {

std::string fixture_dir(const std::string& name);  // ../shared/fixtures/llamacpp/<name>
nlohmann::json read_json(const std::string& path);
std::vector<float> read_f32(const std::string& path);

// Runs `tokens` through the model in chunks of `ubatch` (one sequence from position 0) and returns the
// logits of every position, [tokens.size(), vocab].
std::vector<float> run_logits(ThreadPool& pool, model::TextModel& m, const std::vector<int32_t>& tokens, int ubatch);

// Greedy continuation of `prompt` for n steps through the KV cache.
std::vector<int32_t> run_greedy(ThreadPool& pool, model::TextModel& m, const std::vector<int32_t>& prompt, int n);

float max_abs(const std::vector<float>& v);
float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace specula::test
