// Elementwise helpers on activation rows shared by the model forward passes (single-threaded, in place).
#pragma once

#include <cstddef>

namespace specula::model {

inline void add_inplace(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

inline void scale_inplace(float* x, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace specula::model
