// RoPE with interleaved pairs (2j, 2j+1), the llama convention of GGUF files (ggml "NORM" mode).
// The NeoX convention used by the Gemma family is kernels::cpu::rope_neox.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace specula::model {

// x: [n_tokens, n_heads, head_dim], rotated in place; pair j < n_rot/2 turns by pos * theta^(-2j/n_rot).
void rope_interleaved(float* x, size_t n_tokens, int n_heads, int head_dim, int n_rot, const std::vector<int32_t>& pos,
                      double theta);

}  // namespace specula::model
