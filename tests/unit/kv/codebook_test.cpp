// Lloyd-Max codebooks against turboquant.md §1.3 (an independent solver's tables: exact sphere-coordinate
// density, 400k-point grid, 5000 Lloyd iterations) and against the paper's D_mse figures.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kv/codebook.h"

namespace specula::kv {
namespace {

struct Expected {
  int bits;
  int dim;
  std::vector<double> positive;
  double mse;
};

// turboquant.md §1.3, "Exact sphere-coordinate (Beta) Lloyd-Max" (d = 128 table, d = 64 and d = 256 lines).
const std::vector<Expected>& expected_tables() {
  static const std::vector<Expected> kTables = {
      {1, 128, {0.070662}, 0.36089},
      {2, 128, {0.039993, 0.133044}, 0.11600},
      {3, 128, {0.021609, 0.066596, 0.118151, 0.188407}, 0.03397},
      {4, 128, {0.011314, 0.034182, 0.057816, 0.082881, 0.110347, 0.141868, 0.180897, 0.237718}, 0.00931},
      {2, 64, {0.056516, 0.1875}, 0.11453},
      {3, 64, {0.030474, 0.093844, 0.166182, 0.263926}, 0.03339},
      {4, 64, {0.015929, 0.048119, 0.081356, 0.116541, 0.154986, 0.198920, 0.252976, 0.330850}, 0.00913},
      {2, 256, {0.02829, 0.094241}, 0.11674},
      {3, 256, {0.015302, 0.047177, 0.083777, 0.133864}, 0.03426},
      {4, 256, {0.008018, 0.024228, 0.040989, 0.05878, 0.078301, 0.10075, 0.128636, 0.169451}, 0.00941},
  };
  return kTables;
}

TEST(Codebook, MatchesIndependentTables) {
  for (const auto& e : expected_tables()) {
    const LloydMaxSolution s = solve_lloyd_max(e.bits, e.dim);
    for (size_t i = 0; i < e.positive.size(); ++i) {
      // The tables agree with the converged fixed point to about 0.1% (4-bit d=128: 0.011314 printed vs
      // 0.0113025 converged; a numpy re-solve on a 2M-point grid gives the latter, and its D_mse is lower by
      // 2e-8), so the tolerance is 0.15% relative.
      EXPECT_NEAR(s.positive[i], e.positive[i], 1.5e-3 * e.positive[i])
          << "bits " << e.bits << " dim " << e.dim << " centroid " << i;
    }
    EXPECT_NEAR(s.mse, e.mse, 3e-3 * e.mse) << "bits " << e.bits << " dim " << e.dim;
  }
}

TEST(Codebook, ThresholdMidpoints128d) {
  // turboquant.md §1.3 positive decision thresholds at d = 128, 4 bits.
  const std::vector<double> thr = {0, 0.022748, 0.045999, 0.070348, 0.096614, 0.126108, 0.161383, 0.209308};
  const Codebook& cb = lloyd_max_codebook(4, 128);
  ASSERT_EQ(cb.n_levels, 16);
  for (size_t i = 0; i < thr.size(); ++i) EXPECT_NEAR(cb.thresholds[7 + i], thr[i], 1.5e-3 * thr[i]) << i;
}

TEST(Codebook, SymmetricAscendingAndPaperBound) {
  for (int bits = 1; bits <= 4; ++bits) {
    for (int g : {32, 64, 128}) {
      const Codebook& cb = lloyd_max_codebook(bits, g);
      for (int i = 0; i < cb.n_levels; ++i) {
        EXPECT_EQ(cb.centroids[static_cast<size_t>(i)], -cb.centroids[static_cast<size_t>(cb.n_levels - 1 - i)]);
        if (i > 0) {
          EXPECT_LT(cb.centroids[static_cast<size_t>(i - 1)], cb.centroids[static_cast<size_t>(i)]);
        }
      }
      // Theorem 1: D_mse <= (√3 π / 2) 4^-b, and the Shannon lower bound 4^-b.
      const double up = std::sqrt(3.0) * M_PI / 2 * std::pow(4.0, -bits);
      EXPECT_LE(cb.mse, up);
      EXPECT_GE(cb.mse, std::pow(4.0, -bits));
    }
  }
}

TEST(Codebook, LargeDimensionApproachesGaussianLloydMax) {
  // turboquant.md §1.3 Gaussian Lloyd-Max for N(0,1): 3 bits {0.245094, 0.756005, 1.343909, 2.151946}.
  const std::vector<double> gauss = {0.245094, 0.756005, 1.343909, 2.151946};
  const int dim = 4096;
  const LloydMaxSolution s = solve_lloyd_max(3, dim);
  for (size_t i = 0; i < gauss.size(); ++i) EXPECT_NEAR(s.positive[i] * std::sqrt(dim), gauss[i], 2e-3 * gauss[i]);
}

}  // namespace
}  // namespace specula::kv
