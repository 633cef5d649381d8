// The mixture-of-experts branch of Gemma 4 26B-A4B (gemma4-spec.md §1.11).
#pragma once

#include <cstddef>

#include "base/thread_pool.h"
#include "model/text/text_config.h"
#include "model/text/text_weights.h"

namespace specula::model {

// residual: [n, H], the residual stream entering the FFN sub-block (before pre_feedforward_layernorm).
// out: [n, H] = sum over the top-k experts of weight_k * expert_k(pre_ffw_norm_2(residual)).
void moe_forward(ThreadPool& pool, const TextConfig& c, const MoeWeights& w, const float* residual, size_t n, float* out);

}  // namespace specula::model
