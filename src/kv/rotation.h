// The TurboQuant rotation (turboquant.md §6.1): per group of G values of a head vector,
//   y = D2 · (H_G / √G) · D1 · x
// with H_G the Sylvester Walsh-Hadamard matrix and D1, D2 fixed ±1 diagonals drawn from a seeded PRNG
// (splitmix64). Orthonormal, so <R q, R k> = <q, k>: attention rotates queries instead of un-rotating keys.
// The same rotation serves Q, K and V of one layer; different layers use different seeds.
#pragma once

#include <cstdint>
#include <vector>

namespace specula::kv {

inline constexpr uint64_t kDefaultRotationSeed = 42;

// The per-layer seed: a fixed function of the cache's base seed and the layer index.
uint64_t layer_rotation_seed(uint64_t base_seed, int layer);

class Rotation {
 public:
  Rotation() = default;
  // head_dim a multiple of group; group a power of two.
  Rotation(int head_dim, int group, uint64_t seed);

  int head_dim() const { return head_dim_; }
  int group() const { return group_; }
  // In place on one head vector of head_dim floats (scalar reference; also used by the kernels, since it is
  // O(d log d) per head and runs once per query head / output head, not per cached token).
  void forward(float* x) const;
  void inverse(float* x) const;
  const std::vector<float>& sign1() const { return sign1_; }
  const std::vector<float>& sign2() const { return sign2_; }

 private:
  int head_dim_ = 0;
  int group_ = 0;
  float scale_ = 1;  // 1/√G
  std::vector<float> sign1_, sign2_;  // ±1, head_dim entries each
};

// Unnormalized in-place Walsh-Hadamard transform of n (power of two) floats.
void walsh_hadamard(float* x, int n);

}  // namespace specula::kv
