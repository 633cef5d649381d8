#include "kv/codebook.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "base/check.h"

namespace specula::kv {
namespace {

// Cumulative moments M0(x) = ∫_0^x f, M1(x) = ∫_0^x t f(t) dt, M2 likewise, of the (unnormalized) half density
// on [0, x_max], tabulated on a uniform grid and linearly interpolated.
class HalfDensity {
 public:
  explicit HalfDensity(int dim) {
    // Beyond 12 standard deviations (σ ≈ 1/√dim) the mass is below 1e-30: cut the grid there.
    x_max_ = std::min(1.0, 12.0 / std::sqrt(static_cast<double>(dim)));
    h_ = x_max_ / kCells;
    const double e = 0.5 * (dim - 3);
    m0_.assign(kCells + 1, 0.0);
    m1_.assign(kCells + 1, 0.0);
    m2_.assign(kCells + 1, 0.0);
    for (int i = 0; i < kCells; ++i) {
      // Simpson's rule on each cell.
      const double a = i * h_, b = a + h_, m = 0.5 * (a + b);
      const double fa = dens(a, e), fm = dens(m, e), fb = dens(b, e);
      m0_[i + 1] = m0_[i] + h_ / 6 * (fa + 4 * fm + fb);
      m1_[i + 1] = m1_[i] + h_ / 6 * (a * fa + 4 * m * fm + b * fb);
      m2_[i + 1] = m2_[i] + h_ / 6 * (a * a * fa + 4 * m * m * fm + b * b * fb);
    }
  }
  double x_max() const { return x_max_; }
  double total() const { return m0_.back(); }
  double m0(double x) const { return interp(m0_, x); }
  double m1(double x) const { return interp(m1_, x); }
  double m2(double x) const { return interp(m2_, x); }

 private:
  static constexpr int kCells = 1 << 18;
  static double dens(double x, double e) { return x >= 1.0 ? 0.0 : std::exp(e * std::log1p(-x * x)); }
  double interp(const std::vector<double>& m, double x) const {
    if (x <= 0) return 0.0;
    if (x >= x_max_) return m.back();
    const double u = x / h_;
    const int i = std::min(static_cast<int>(u), kCells - 1);
    const double t = u - i;
    return m[static_cast<size_t>(i)] * (1 - t) + m[static_cast<size_t>(i) + 1] * t;
  }
  double x_max_ = 1, h_ = 0;
  std::vector<double> m0_, m1_, m2_;
};

}  // namespace

LloydMaxSolution solve_lloyd_max(int bits, int dim) {
  SPECULA_CHECK(bits >= 1 && bits <= 4 && dim >= 4);
  const HalfDensity f(dim);
  const int half = 1 << (bits - 1);
  const double sigma = 1.0 / std::sqrt(static_cast<double>(dim));
  std::vector<double> c(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i) c[static_cast<size_t>(i)] = sigma * (0.5 + i) * 3.0 / half;  // spread over ~3σ
  std::vector<double> t(static_cast<size_t>(half) + 1);
  for (int iter = 0; iter < 100000; ++iter) {
    t[0] = 0;
    for (int i = 1; i < half; ++i) t[static_cast<size_t>(i)] = 0.5 * (c[static_cast<size_t>(i) - 1] + c[static_cast<size_t>(i)]);
    t[static_cast<size_t>(half)] = f.x_max();
    double change = 0;
    for (int i = 0; i < half; ++i) {
      const double a = t[static_cast<size_t>(i)], b = t[static_cast<size_t>(i) + 1];
      const double mass = f.m0(b) - f.m0(a);
      const double next = mass > 0 ? (f.m1(b) - f.m1(a)) / mass : c[static_cast<size_t>(i)];
      change = std::max(change, std::fabs(next - c[static_cast<size_t>(i)]));
      c[static_cast<size_t>(i)] = next;
    }
    if (change < 1e-13 * sigma) break;
  }
  // D_mse = dim · E[(x - c)²] = dim · Σ_cells ∫ (x² - 2cx + c²) f / ∫ f, over both halves (symmetric).
  double err = 0;
  for (int i = 0; i < half; ++i) {
    const double a = t[static_cast<size_t>(i)], b = t[static_cast<size_t>(i) + 1], ci = c[static_cast<size_t>(i)];
    err += (f.m2(b) - f.m2(a)) - 2 * ci * (f.m1(b) - f.m1(a)) + ci * ci * (f.m0(b) - f.m0(a));
  }
  LloydMaxSolution s;
  for (int i = 0; i < half; ++i) s.positive[static_cast<size_t>(i)] = c[static_cast<size_t>(i)];
  s.mse = dim * err / f.total();
  return s;
}

const Codebook& lloyd_max_codebook(int bits, int group) {
  SPECULA_CHECK(bits >= 1 && bits <= 4 && group >= 8 && group <= 1024 && (group & (group - 1)) == 0,
                "codebook for {} bits, group {}", bits, group);
  static std::mutex mutex;
  static std::map<std::pair<int, int>, std::unique_ptr<Codebook>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[{bits, group}];
  if (!slot) {
    const LloydMaxSolution s = solve_lloyd_max(bits, group);
    auto cb = std::make_unique<Codebook>();
    cb->bits = bits;
    cb->group = group;
    cb->n_levels = 1 << bits;
    const int half = cb->n_levels / 2;
    for (int i = 0; i < half; ++i) {
      const float v = static_cast<float>(s.positive[static_cast<size_t>(i)]);
      cb->centroids[static_cast<size_t>(half + i)] = v;
      cb->centroids[static_cast<size_t>(half - 1 - i)] = -v;
    }
    for (int k = 0; k + 1 < cb->n_levels; ++k) {
      cb->thresholds[static_cast<size_t>(k)] =
          0.5f * (cb->centroids[static_cast<size_t>(k)] + cb->centroids[static_cast<size_t>(k) + 1]);
    }
    cb->mse = s.mse;
    slot = std::move(cb);
  }
  return *slot;
}

}  // namespace specula::kv
