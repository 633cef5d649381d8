// kernels::cpu norms, softmax, activations, RoPE, top-k and get_rows against kernels::ref (every ISA tier
// for the table-driven row kernels). Tolerances are stated per op from the float32 unit roundoff u = 2^-24.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace specula::kernels {
namespace {

using test::kU;

const int64_t kWidths[] = {1, 7, 8, 15, 16, 17, 64, 100, 257, 2560};

// rms_norm: the sum of squares runs through <= n/8 + 8 float roundings; sqrt, divide and the two output
// multiplies add a few more: relative bound (n/8 + 16) u.
TEST(RmsNorm, MatchesReferenceOnEveryTier) {
  std::mt19937 rng(1);
  for (cpu::Isa isa : test::supported_tiers()) {
    const cpu::KernelTable& k = cpu::table_for(isa);
    for (int64_t n : kWidths) {
      for (bool with_weight : {false, true}) {
        SCOPED_TRACE(::testing::Message() << k.name << " n " << n << " weight " << with_weight);
        const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(3 * n), 3.0f);
        const std::vector<float> w = test::random_floats(rng, static_cast<size_t>(n));
        const float* wp = with_weight ? w.data() : nullptr;
        std::vector<float> want(x.size()), got = x;  // got: in place (out aliases x)
        ThreadPool pool(1);
        ref::rms_norm(pool, x.data(), wp, 3, n, 1e-6f, want.data());
        for (int64_t r = 0; r < 3; ++r) k.rms_norm_row(got.data() + r * n, wp, n, 1e-6f, got.data() + r * n);
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_LE(std::fabs(double{got[i]} - double{want[i]}), (static_cast<double>(n) / 8 + 16) * kU * std::fabs(double{want[i]}) + 1e-30)
              << "at " << i;
        }
      }
    }
  }
}

TEST(RmsNorm, PublicOpSplitsRowsAcrossThreads) {
  std::mt19937 rng(2);
  const int64_t rows = 40, n = 2560;
  const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(rows * n));
  const std::vector<float> w = test::random_floats(rng, static_cast<size_t>(n));
  ThreadPool pool1(1), pool2(2);
  std::vector<float> a(x.size()), b(x.size());
  cpu::rms_norm(pool1, x.data(), w.data(), rows, n, 1e-6f, a.data());
  cpu::rms_norm(pool2, x.data(), w.data(), rows, n, 1e-6f, b.data());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  std::vector<float> one(static_cast<size_t>(n));
  cpu::rms_norm(pool1, x.data() + 7 * n, w.data(), 1, n, 1e-6f, one.data());
  EXPECT_EQ(std::memcmp(one.data(), a.data() + 7 * n, one.size() * sizeof(float)), 0);
}

// softmax: exp is accurate to a few ulp, the sum to (n/8 + 8) u relative (positive terms), the final
// scale one more: relative bound (n/8 + 32) u. Masked (-inf) entries are exactly 0.
TEST(Softmax, MatchesReferenceOnEveryTier) {
  std::mt19937 rng(3);
  for (cpu::Isa isa : test::supported_tiers()) {
    const cpu::KernelTable& k = cpu::table_for(isa);
    for (int64_t n : kWidths) {
      SCOPED_TRACE(::testing::Message() << k.name << " n " << n);
      std::vector<float> x = test::random_floats(rng, static_cast<size_t>(n), 8.0f);
      for (int64_t i = 1; i < n; i += 3) x[static_cast<size_t>(i)] = -INFINITY;  // masked positions
      std::vector<float> want = x, got = x;
      ref::softmax(want.data(), 1, n);
      k.softmax_row(got.data(), n);
      for (size_t i = 0; i < x.size(); ++i) {
        if (std::isinf(x[i])) {
          EXPECT_EQ(got[i], 0.0f);
          continue;
        }
        ASSERT_LE(std::fabs(double{got[i]} - double{want[i]}), (static_cast<double>(n) / 8 + 32) * kU * double{want[i]} + 1e-37)
            << "at " << i;
      }
    }
  }
}

// Activations: the float32 argument of exp carries a relative error of a few u, i.e. an absolute error of
// about 4 u |arg|, which becomes a relative error of the result (damped by e/(1+e) <= 1); exp itself and
// the division add a few ulp: bound (32 + 4 |arg|) u relative, plus 1e-35 absolute for results at the
// float underflow threshold (e.g. silu(-90) = -7e-38, where exp(90) overflows float and gives -0).
double activation_tol(double x, double ref_value, bool gelu) {
  const double arg = gelu ? 2.0 * 0.7978845608 * std::fabs(x + 0.044715 * x * x * x) : std::fabs(x);
  return (32.0 + 4.0 * arg) * kU * std::fabs(ref_value) + 1e-35;
}

std::vector<float> activation_inputs(std::mt19937& rng, size_t n) {
  std::vector<float> x = test::random_floats(rng, n, 4.0f);
  const float specials[] = {0.0f, -0.0f, 1e-20f, -1e-20f, 30.0f, -30.0f, 90.0f, -90.0f, 200.0f, -200.0f};
  for (size_t i = 0; i < std::size(specials) && i < n; ++i) x[i * 3 % n] = specials[i];
  return x;
}

TEST(Activations, MatchReferenceOnEveryTier) {
  std::mt19937 rng(4);
  for (cpu::Isa isa : test::supported_tiers()) {
    const cpu::KernelTable& k = cpu::table_for(isa);
    for (int64_t n : kWidths) {
      SCOPED_TRACE(::testing::Message() << k.name << " n " << n);
      const std::vector<float> g = activation_inputs(rng, static_cast<size_t>(n));
      const std::vector<float> u = test::random_floats(rng, static_cast<size_t>(n));
      for (int op = 0; op < 4; ++op) {
        const bool gelu = op % 2 == 0, fused = op >= 2;
        std::vector<float> want(g.size()), got = g;  // got: in place
        if (gelu && !fused) ref::gelu_tanh(g.data(), n, want.data()), k.gelu_tanh(got.data(), n, got.data());
        if (!gelu && !fused) ref::silu(g.data(), n, want.data()), k.silu(got.data(), n, got.data());
        if (gelu && fused) ref::gelu_tanh_mul(g.data(), u.data(), n, want.data()), k.gelu_tanh_mul(got.data(), u.data(), n, got.data());
        if (!gelu && fused) ref::silu_mul(g.data(), u.data(), n, want.data()), k.silu_mul(got.data(), u.data(), n, got.data());
        for (size_t i = 0; i < g.size(); ++i) {
          ASSERT_LE(std::fabs(double{got[i]} - double{want[i]}), activation_tol(g[i], want[i], gelu))
              << "op " << op << " x " << g[i] << " at " << i;
        }
      }
    }
  }
}

// Hand-derived values: gelu_tanh(1) = 0.5 (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.8411919906...,
// silu(1) = 1 / (1 + e^-1) = 0.7310585786...
TEST(Activations, KnownValues) {
  const float x[2] = {1.0f, -2.0f};
  float g[2], s[2];
  cpu::gelu_tanh(x, 2, g);
  cpu::silu(x, 2, s);
  EXPECT_NEAR(g[0], 0.8411919906, 2e-7);
  EXPECT_NEAR(g[1], -0.0454023059, 2e-8);  // -2 * 0.5 * (1 + tanh(-1.7383...))
  EXPECT_NEAR(s[0], 0.7310585786, 2e-7);
  EXPECT_NEAR(s[1], -0.2384058440, 2e-7);  // -2 / (1 + e^2)
}

// Batch invariance of the elementwise ops: an element's result does not depend on where it sits.
TEST(Activations, PositionIndependent) {
  std::mt19937 rng(5);
  const std::vector<float> x = test::random_floats(rng, 77, 3.0f);
  std::vector<float> all(x.size());
  cpu::gelu_tanh(x.data(), 77, all.data());
  for (int64_t off : {0, 5, 70}) {
    std::vector<float> part(static_cast<size_t>(77 - off));
    cpu::gelu_tanh(x.data() + off, 77 - off, part.data());
    EXPECT_EQ(std::memcmp(part.data(), all.data() + off, part.size() * sizeof(float)), 0) << off;
  }
}

// RoPE: both sides round the same double cos/sin to float, so the only difference is the float rotation
// (two products and a sum): |err| <= 3 u (|x0| + |x1|).
TEST(RopeNeox, MatchesReference) {
  std::mt19937 rng(6);
  struct Shape {
    int64_t head_dim, n_rot;
    double theta;
    bool factors;
  };
  const Shape shapes[] = {{8, 8, 1e4, false}, {64, 32, 1e4, false}, {256, 256, 1e4, false}, {512, 512, 1e6, true}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "head_dim " << s.head_dim << " n_rot " << s.n_rot);
    const int64_t n_tok = 3, n_heads = 2;
    std::vector<float> x = test::random_floats(rng, static_cast<size_t>(n_tok * n_heads * s.head_dim));
    const std::vector<int32_t> pos = {0, 17, 131071};
    std::vector<float> ff(static_cast<size_t>(s.n_rot / 2), 1.0f);
    for (size_t j = ff.size() / 4; j < ff.size(); ++j) ff[j] = 1e30f;  // Gemma 4 proportional RoPE style
    const float* ffp = s.factors ? ff.data() : nullptr;
    std::vector<float> want = x, got = x;
    ref::rope_neox(want.data(), n_tok, n_heads, s.head_dim, s.n_rot, pos, s.theta, ffp);
    cpu::rope_neox(got.data(), n_tok, n_heads, s.head_dim, s.n_rot, pos, s.theta, ffp);
    const int64_t half = s.head_dim / 2;
    for (int64_t v = 0; v < n_tok * n_heads; ++v) {
      for (int64_t j = 0; j < half; ++j) {
        const size_t a = static_cast<size_t>(v * s.head_dim + j), b = a + static_cast<size_t>(half);
        const double tol = 3 * kU * (std::fabs(double{x[a]}) + std::fabs(double{x[b]}));
        EXPECT_LE(std::fabs(double{got[a]} - double{want[a]}), tol);
        EXPECT_LE(std::fabs(double{got[b]} - double{want[b]}), tol);
        if (j >= s.n_rot / 2 || v < n_heads) {  // not rotated, or position 0: unchanged
          EXPECT_EQ(got[a], x[a]);
          EXPECT_EQ(got[b], x[b]);
        }
      }
    }
  }
}

// Hand-derived: position 1, head_dim 4, theta 10000: pair 0 rotates by 1 rad, pair 1 by 10000^-0.5 = 0.01.
TEST(RopeNeox, KnownRotation) {
  float x[4] = {1.0f, 1.0f, 0.0f, 0.0f};  // pairs (0, 2) and (1, 3)
  const int32_t pos[1] = {1};
  cpu::rope_neox(x, 1, 1, 4, 4, pos, 10000.0, nullptr);
  EXPECT_NEAR(x[0], std::cos(1.0), 1e-7);
  EXPECT_NEAR(x[2], std::sin(1.0), 1e-7);
  EXPECT_NEAR(x[1], std::cos(0.01), 1e-7);
  EXPECT_NEAR(x[3], std::sin(0.01), 1e-7);
}

TEST(TopK, MatchesReferenceWithTies) {
  std::mt19937 rng(7);
  for (int64_t n : {int64_t{1}, int64_t{10}, int64_t{1000}, int64_t{262144}}) {
    std::vector<float> x(static_cast<size_t>(n));
    std::uniform_int_distribution<int> small(-20, 20);  // many ties
    for (float& f : x) f = static_cast<float>(small(rng));
    for (int64_t k : {int64_t{1}, std::min<int64_t>(5, n), std::min<int64_t>(40, n), n == 262144 ? 64 : n}) {
      std::vector<int32_t> want(static_cast<size_t>(k)), got(static_cast<size_t>(k));
      ref::top_k(x.data(), n, k, want.data());
      cpu::top_k(x.data(), n, k, got.data());
      EXPECT_EQ(got, want) << "n " << n << " k " << k;
    }
  }
  const float v[5] = {1.0f, 3.0f, 3.0f, -1.0f, 2.0f};
  int32_t idx[3];
  cpu::top_k(v, 5, 3, idx);
  EXPECT_EQ(idx[0], 1);
  EXPECT_EQ(idx[1], 2);
  EXPECT_EQ(idx[2], 4);
}

// get_rows is exact: both sides decode with the same scalar codecs or exact fp16/bf16 conversions.
TEST(GetRows, MatchesReferenceExactly) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = {3, 0, 3, 9, 1, 2, 8, 7, 6, 5, 4};
  for (format::GgmlType type : test::matmul_types()) {
    SCOPED_TRACE(format::ggml_type_name(type));
    const int64_t cols = format::ggml_traits(type).block_size == 1 ? 37 : 512;
    const test::OwnedMatrix t = test::random_matrix(rng, type, 10, cols, false);
    for (size_t n : {size_t{1}, ids.size()}) {
      std::vector<float> want(n * static_cast<size_t>(cols)), got(want.size());
      ref::get_rows(pool, t.view, std::span(ids.data(), n), want.data());
      cpu::get_rows(pool, t.view, std::span(ids.data(), n), got.data());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    }
  }
}

}  // namespace
}  // namespace specula::kernels
