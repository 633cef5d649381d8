// When generation ends: stop strings, a token limit and the ignore-eos switch, validated and immutable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace specula::runtime {

// Raw values from flags or a request (OpenAI "stop", "max_tokens"; llama.cpp "n_predict", "ignore_eos").
struct StopParams {
  std::vector<std::string> stop;  // stop strings; the text is cut before the first occurrence (not included)
  int32_t max_tokens = -1;        // -1: no limit (until end of generation or the context is full); 0: generate nothing
  bool ignore_eos = false;        // end-of-generation tokens do not stop; also ban them when sampling (ban_tokens)
};

enum class FinishReason {
  kStop,    // an end-of-generation token or a stop string (OpenAI finish_reason "stop")
  kLength,  // max_tokens reached (OpenAI "length")
};

const char* finish_reason_name(FinishReason reason);  // "stop", "length"

class StopConfig {
 public:
  // Errors (kInvalidArgument) name the field: "stop[2] is empty", "max_tokens must be >= -1".
  static Result<StopConfig> create(StopParams params);

  const std::vector<std::string>& stop() const { return params_.stop; }
  int32_t max_tokens() const { return params_.max_tokens; }
  bool ignore_eos() const { return params_.ignore_eos; }

  // Called with the number of tokens generated so far (before decoding: 0) and whether the last one was an
  // end-of-generation token. Stop strings are the StopMatcher's job.
  std::optional<FinishReason> finish_after(int32_t n_generated, bool last_is_end_of_generation) const;

 private:
  explicit StopConfig(StopParams params) : params_(std::move(params)) {}
  StopParams params_;
};

}  // namespace specula::runtime
