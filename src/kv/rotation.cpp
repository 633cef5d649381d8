#include "kv/rotation.h"

#include <cmath>

#include "base/check.h"

namespace specula::kv {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void fill_signs(uint64_t& state, std::vector<float>& signs, int n) {
  signs.resize(static_cast<size_t>(n));
  uint64_t bits = 0;
  for (int i = 0; i < n; ++i) {
    if (i % 64 == 0) bits = splitmix64(state);
    signs[static_cast<size_t>(i)] = ((bits >> (i % 64)) & 1u) ? -1.0f : 1.0f;
  }
}

}  // namespace

uint64_t layer_rotation_seed(uint64_t base_seed, int layer) {
  uint64_t state = base_seed ^ (0x5851f42d4c957f2dull * (static_cast<uint64_t>(layer) + 1));
  return splitmix64(state);
}

void walsh_hadamard(float* x, int n) {
  for (int len = 1; len < n; len <<= 1) {
    for (int i = 0; i < n; i += 2 * len) {
      for (int j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
    }
  }
}

Rotation::Rotation(int head_dim, int group, uint64_t seed) : head_dim_(head_dim), group_(group) {
  SPECULA_CHECK(group > 0 && (group & (group - 1)) == 0 && head_dim % group == 0);
  scale_ = 1.0f / std::sqrt(static_cast<float>(group));
  uint64_t state = seed;
  fill_signs(state, sign1_, head_dim);
  fill_signs(state, sign2_, head_dim);
}

void Rotation::forward(float* x) const {
  for (int i = 0; i < head_dim_; ++i) x[i] *= sign1_[static_cast<size_t>(i)];
  for (int g = 0; g < head_dim_; g += group_) walsh_hadamard(x + g, group_);
  for (int i = 0; i < head_dim_; ++i) x[i] *= sign2_[static_cast<size_t>(i)] * scale_;
}

void Rotation::inverse(float* x) const {
  for (int i = 0; i < head_dim_; ++i) x[i] *= sign2_[static_cast<size_t>(i)];
  for (int g = 0; g < head_dim_; g += group_) walsh_hadamard(x + g, group_);
  for (int i = 0; i < head_dim_; ++i) x[i] *= sign1_[static_cast<size_t>(i)] * scale_;
}

}  // namespace specula::kv
