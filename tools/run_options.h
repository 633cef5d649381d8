// Flag set of `specula run` and its conversion into validated sampler / stop / prompt settings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/flags.h"
#include "config/speculative.h"
#include "kernels/ops.h"
#include "kv/cache_types.h"
#include "runtime/sampler_config.h"
#include "runtime/stop_config.h"

namespace specula::tools {

config::FlagParser run_flags();

struct RunSettings {
  std::string model_path;
  std::optional<std::string> prompt;          // -p / -f text
  std::optional<std::vector<int32_t>> tokens; // --tokens: the prompt as ids (no BOS added)
  bool chat = false;
  std::optional<std::string> system;
  bool thinking = false;
  std::optional<std::string> chat_template;   // variant name override
  runtime::SamplerParams sampling;
  runtime::StopParams stop;
  int n_ctx = 4096;
  int ubatch = 512;
  kv::CacheTypes cache_types;                 // -ctk / -ctv
  int threads = 1;
  kernels::cpu::ActPrecision activations = kernels::cpu::ActPrecision::kInt8;  // --activations
  bool print_ids = false;
  bool echo_prompt = true;
  config::SpecConfig spec;   // --spec-type / --mtp-head / --draft-block-size
  bool spec_stats = false;   // print drafted/accepted per round
  std::optional<std::string> mmproj_path;  // --mmproj
  std::vector<std::string> images;         // --image, in prompt order
  int image_max_tokens = 280;              // --image-max-tokens
};

// Validates the parsed flags (ranges, contradictions such as --tokens with -p or --chat).
Result<RunSettings> run_settings(const config::FlagValues& flags);

}  // namespace specula::tools
