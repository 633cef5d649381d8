// Lloyd-Max scalar codebooks for TurboQuant (turboquant.md §1.2-1.3): the optimal 2^bits-level quantizer for
// one coordinate of a uniformly random unit vector in R^G, whose density is
//   f(x) = Γ(G/2) / (√π Γ((G-1)/2)) · (1 - x²)^((G-3)/2),  x in [-1, 1].
// Computed numerically (cumulative moments on a fine grid, Lloyd iterations to convergence) once per
// (bits, G) and cached; the values are pinned by unit tests against turboquant.md's independent tables.
#pragma once

#include <array>

namespace specula::kv {

struct Codebook {
  int bits = 0;
  int group = 0;                         // G: the dimension of the rotated vectors it serves
  int n_levels = 0;                      // 2^bits
  std::array<float, 16> centroids{};     // ascending, symmetric: c[n-1-i] = -c[i]
  std::array<float, 15> thresholds{};    // ascending midpoints; idx = #{k : y > thresholds[k]}
  double mse = 0;                        // D_mse = G · E[(x - c(x))²] for unit vectors (the paper's figure)
};

// bits in {1, 2, 3, 4}; group a power of two in [8, 1024] (checked). Thread-safe; the reference stays valid
// for the life of the process.
const Codebook& lloyd_max_codebook(int bits, int group);

// The solver itself (double precision), exposed for tests: positive centroids (ascending) and D_mse.
struct LloydMaxSolution {
  std::array<double, 8> positive{};  // first 2^(bits-1) entries used
  double mse = 0;
};
LloydMaxSolution solve_lloyd_max(int bits, int dim);

}  // namespace specula::kv
