#include "model/text/rope.h"

#include <cmath>

namespace specula::model {

void rope_interleaved(float* x, size_t n_tokens, int n_heads, int head_dim, int n_rot, const std::vector<int32_t>& pos,
                      double theta) {
  for (size_t t = 0; t < n_tokens; ++t) {
    for (int j = 0; j < n_rot / 2; ++j) {
      const double angle = static_cast<double>(pos[t]) * std::pow(theta, -2.0 * j / n_rot);
      const float cs = static_cast<float>(std::cos(angle));
      const float sn = static_cast<float>(std::sin(angle));
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + (t * static_cast<size_t>(n_heads) + static_cast<size_t>(h)) * static_cast<size_t>(head_dim);
        const float a = v[2 * j];
        const float b = v[2 * j + 1];
        v[2 * j] = a * cs - b * sn;
        v[2 * j + 1] = a * sn + b * cs;
      }
    }
  }
}

}  // namespace specula::model
