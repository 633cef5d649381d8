// Validation of sampling parameters (see sampler_config.h).
#include "runtime/sampler_config.h"

#include <cmath>
#include <limits>
#include <unordered_set>

namespace specula::runtime {
namespace {

Status check_finite(const char* field, float value) {
  if (!std::isfinite(value)) return make_error(ErrorCode::kInvalidArgument, "{} must be a finite number", field);
  return ok_status();
}

Status check_unit(const char* field, float value) {
  if (!(value >= 0.0f && value <= 1.0f)) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be in [0, 1], got {}", field, value);
  }
  return ok_status();
}

Status check_logit_bias(std::span<const LogitBias> biases, int32_t n_vocab) {
  std::unordered_set<int32_t> seen;
  for (const LogitBias& b : biases) {
    if (b.token < 0 || b.token >= n_vocab) {
      return make_error(ErrorCode::kInvalidArgument, "logit_bias: token {} is outside the vocabulary [0, {})", b.token,
                        n_vocab);
    }
    if (std::isnan(b.bias) || b.bias == std::numeric_limits<float>::infinity()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "logit_bias: the bias of token {} must be a finite number or -infinity", b.token);
    }
    if (!seen.insert(b.token).second) {
      return make_error(ErrorCode::kInvalidArgument, "logit_bias: token {} is given more than once", b.token);
    }
  }
  return ok_status();
}

}  // namespace

void ban_tokens(SamplerParams& params, std::span<const int32_t> tokens) {
  for (const int32_t t : tokens) params.logit_bias.push_back({t, -std::numeric_limits<float>::infinity()});
}

bool SamplerConfig::penalties_enabled() const {
  return params_.penalty_last_n != 0 &&
         (params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f);
}

Result<SamplerConfig> SamplerConfig::create(const SamplerParams& p, int32_t n_vocab) {
  if (n_vocab <= 0) return make_error(ErrorCode::kInvalidArgument, "n_vocab must be positive, got {}", n_vocab);
  SPECULA_RETURN_IF_ERROR(check_finite("temperature", p.temperature));
  if (p.top_k < 0) return make_error(ErrorCode::kInvalidArgument, "top_k must be >= 0 (0 disables), got {}", p.top_k);
  SPECULA_RETURN_IF_ERROR(check_unit("top_p", p.top_p));
  SPECULA_RETURN_IF_ERROR(check_unit("min_p", p.min_p));
  SPECULA_RETURN_IF_ERROR(check_unit("typical_p", p.typical_p));
  if (!(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0.0f)) {
    return make_error(ErrorCode::kInvalidArgument, "repeat_penalty must be a finite number > 0 (1 disables), got {}",
                      p.repeat_penalty);
  }
  SPECULA_RETURN_IF_ERROR(check_finite("presence_penalty", p.presence_penalty));
  SPECULA_RETURN_IF_ERROR(check_finite("frequency_penalty", p.frequency_penalty));
  if (p.penalty_last_n < -1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "penalty_last_n must be >= -1 (-1: all tokens, 0: off), got {}", p.penalty_last_n);
  }
  if (p.min_keep < 1) return make_error(ErrorCode::kInvalidArgument, "min_keep must be >= 1, got {}", p.min_keep);
  SPECULA_RETURN_IF_ERROR(check_logit_bias(p.logit_bias, n_vocab));
  return SamplerConfig(p, n_vocab);
}

}  // namespace specula::runtime
