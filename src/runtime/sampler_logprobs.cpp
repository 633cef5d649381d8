#include "runtime/sampler_logprobs.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"
#include "kernels/ops.h"

namespace specula::runtime {
namespace {

float clamp_logprob(double lp) {
  if (!std::isfinite(lp)) return kLogprobFloor;
  return std::max(static_cast<float>(std::min(lp, 0.0)), kLogprobFloor);
}

// log(sum_i exp(logits[i] - max)), where logits[best] == max. The exponentials come from the SIMD softmax kernel
// (p_i = e_i / S with S summed in float lanes); the float sum's rounding is then removed: p_best = 1 / S exactly
// (e_best = exp(0) = 1) and sum_i p_i in double = S_exact / S, so log S_exact = log(sum p) - log(p_best).
double log_normalizer(std::span<const float> logits, size_t best) {
  thread_local std::vector<float> p;  // one row of scratch per thread (the engine thread), reused
  p.assign(logits.begin(), logits.end());
  kernels::cpu::softmax(p.data(), 1, static_cast<int64_t>(p.size()));
  double acc[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= p.size(); i += 4) {
    for (size_t j = 0; j < 4; ++j) acc[j] += static_cast<double>(p[i + j]);
  }
  for (; i < p.size(); ++i) acc[0] += static_cast<double>(p[i]);
  return std::log((acc[0] + acc[1]) + (acc[2] + acc[3])) - std::log(static_cast<double>(p[best]));
}

}  // namespace

TokenLogprobs token_logprobs(std::span<const float> logits, int32_t token, int n_top) {
  SPECULA_CHECK(token >= 0 && static_cast<size_t>(token) < logits.size(), "token {} outside a row of {}", token,
                logits.size());
  SPECULA_CHECK(n_top >= 0, "n_top {}", n_top);
  const auto n = static_cast<int64_t>(logits.size());
  // The top entries, at least one: the first is the row's maximum (ties: the lowest id, as the samplers).
  std::vector<int32_t> top(static_cast<size_t>(std::clamp<int64_t>(n_top, 1, n)));
  kernels::cpu::top_k(logits.data(), n, static_cast<int64_t>(top.size()), top.data());
  const float max = logits[static_cast<size_t>(top[0])];
  TokenLogprobs out;
  out.id = token;
  if (!std::isfinite(max)) {  // a broken row (no finite maximum): report "improbable" instead of NaN
    out.logprob = kLogprobFloor;
    for (int k = 0; k < n_top && k < n; ++k) out.top.push_back({top[static_cast<size_t>(k)], kLogprobFloor});
    return out;
  }
  const double lse = log_normalizer(logits, static_cast<size_t>(top[0]));
  const auto logprob = [&](int32_t id) {
    return clamp_logprob(static_cast<double>(logits[static_cast<size_t>(id)]) - static_cast<double>(max) - lse);
  };
  out.logprob = logprob(token);
  for (int k = 0; k < n_top && k < n; ++k) {
    const int32_t id = top[static_cast<size_t>(k)];
    out.top.push_back({id, logprob(id)});
  }
  return out;
}

}  // namespace specula::runtime
