// Validation of stop conditions (see stop_config.h).
#include "runtime/stop_config.h"

namespace specula::runtime {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
  }
  return "?";
}

Result<StopConfig> StopConfig::create(StopParams params) {
  for (std::size_t i = 0; i < params.stop.size(); ++i) {
    if (params.stop[i].empty()) {
      return make_error(ErrorCode::kInvalidArgument, "stop[{}] is empty (a stop string needs at least one character)",
                        i);
    }
  }
  if (params.max_tokens < -1) {
    return make_error(ErrorCode::kInvalidArgument, "max_tokens must be >= -1 (-1: no limit), got {}",
                      params.max_tokens);
  }
  return StopConfig(std::move(params));
}

std::optional<FinishReason> StopConfig::finish_after(int32_t n_generated, bool last_is_end_of_generation) const {
  if (last_is_end_of_generation && !params_.ignore_eos) return FinishReason::kStop;
  if (params_.max_tokens >= 0 && n_generated >= params_.max_tokens) return FinishReason::kLength;
  return std::nullopt;
}

}  // namespace specula::runtime
