// kernels::cpu matmul (every ISA tier this CPU has) against kernels::ref, plus the batch-invariance and
// thread-count-invariance guarantees.
//
// Oracle and tolerance: the SIMD tiers quantize activations to int8 blocks for the quantized weight types,
// so their reference is ref::matmul on the activations *after* the scalar reference quantizer
// (kernels::quantize_act32/256, which the SIMD quantizers match bit for bit, see act_quant_test.cpp) and
// dequantization. What remains is float32 rounding: per output the bound is
//   4 * (cols / 8 + 40) * u * S,   S = sum_c |w[r, c]| * |x'[t, c]|,  u = 2^-24,
// i.e. a recursive-summation bound for chains of at most cols/8 + 40 roundings (8-lane accumulators, block
// scale products, the horizontal sum and the scalar tail), with a factor 4 for the scale/min split of
// the affine formats (q4_1, q5_1, q4_K, q5_K), whose two partial sums can exceed S.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/act_quant.h"
#include "kernels/dequant_row.h"
#include "kernels/ops.h"

namespace specula::kernels {
namespace {

using format::GgmlType;
using test::OwnedMatrix;

// The activations a tier actually multiplies by.
std::vector<float> effective_activations(ActKind kind, const std::vector<float>& x, int64_t n_tok, int64_t cols) {
  if (kind == ActKind::kF32) return x;
  std::vector<float> out(x.size());
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* xt = x.data() + t * cols;
    float* ot = out.data() + t * cols;
    if (kind == ActKind::kQ8x32) {
      std::vector<ActBlock32> q(static_cast<size_t>(cols / 32));
      quantize_act32(xt, cols, q.data());
      dequantize_act32(q.data(), cols, ot);
    } else {
      std::vector<ActBlock256> q(static_cast<size_t>(cols / 256));
      quantize_act256(xt, cols, q.data());
      dequantize_act256(q.data(), cols, ot);
    }
  }
  return out;
}

void expect_matches_ref(const cpu::KernelTable& k, ThreadPool& pool, const OwnedMatrix& w, int64_t n_tok,
                        std::mt19937& rng) {
  const int64_t rows = w.view.rows, cols = w.view.cols;
  const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(n_tok * cols));
  const auto id = static_cast<size_t>(w.view.type);
  const ActKind kind = k.tile[id] != nullptr ? k.act[id] : ActKind::kF32;
  const std::vector<float> xe = effective_activations(kind, x, n_tok, cols);

  std::vector<float> y_ref(static_cast<size_t>(n_tok * rows)), y(static_cast<size_t>(n_tok * rows), NAN);
  ref::matmul(pool, w.view, xe.data(), n_tok, y_ref.data());
  cpu::matmul_with(k, pool, w.view, x.data(), n_tok, y.data());

  std::vector<float> wr(static_cast<size_t>(cols));
  int failures = 0;
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row_any(w.view.type, w.view.row(r), cols, wr.data());
    for (int64_t t = 0; t < n_tok; ++t) {
      double s = 0.0;
      for (int64_t c = 0; c < cols; ++c) s += std::fabs(double{wr[static_cast<size_t>(c)]} * double{xe[static_cast<size_t>(t * cols + c)]});
      const double tol = 4.0 * (static_cast<double>(cols) / 8.0 + 40.0) * test::kU * s;
      const double got = y[static_cast<size_t>(t * rows + r)], want = y_ref[static_cast<size_t>(t * rows + r)];
      if (!(std::fabs(got - want) <= tol) && ++failures <= 5) {
        ADD_FAILURE() << "row " << r << " token " << t << ": got " << got << " want " << want << " tol " << tol;
      }
    }
  }
}

std::vector<int64_t> test_cols(GgmlType type) {
  const int64_t block = format::ggml_traits(type).block_size;
  if (block == 1) return {1, 13, 64, 200, 515};
  if (block == 32) return {32, 96, 544};
  return {256, 768};
}

class MatmulTypeTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(MatmulTypeTest, MatchesReferenceOnEveryTier) {
  const GgmlType type = GetParam();
  std::mt19937 rng(1234 + static_cast<unsigned>(type));
  ThreadPool pool(2);
  // (rows, n_tokens): single rows and tokens, odd counts, the decode maximum 64 and one past it.
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {37, 1}, {5, 3}, {37, 17}, {5, 64}, {3, 65}};
  for (cpu::Isa isa : test::supported_tiers()) {
    const cpu::KernelTable& k = cpu::table_for(isa);
    for (int64_t cols : test_cols(type)) {
      for (bool raw : {false, true}) {
        for (auto [rows, n_tok] : shapes) {
          SCOPED_TRACE(::testing::Message() << k.name << " cols " << cols << " rows " << rows << " tokens " << n_tok
                                            << (raw ? " raw bytes" : " quantized values"));
          const OwnedMatrix w = test::random_matrix(rng, type, rows, cols, raw);
          expect_matches_ref(k, pool, w, n_tok, rng);
        }
      }
    }
  }
}

// A token's output row is bitwise the same alone, in any sub-batch, in a batch of 64, and with any number of
// threads (ARCHITECTURE.md rule 5).
TEST_P(MatmulTypeTest, BatchAndThreadInvariant) {
  const GgmlType type = GetParam();
  std::mt19937 rng(99 + static_cast<unsigned>(type));
  const int64_t rows = 19, cols = format::ggml_traits(type).block_size == 1 ? 300 : 512;
  constexpr int64_t kN = kDecodeBatchMax;
  const OwnedMatrix w = test::random_matrix(rng, type, rows, cols, false);
  const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(kN * cols));
  ThreadPool pool1(1), pool2(2), pool3(3);
  for (cpu::Isa isa : test::supported_tiers()) {
    const cpu::KernelTable& k = cpu::table_for(isa);
    SCOPED_TRACE(k.name);
    std::vector<float> all(static_cast<size_t>(kN * rows));
    cpu::matmul_with(k, pool2, w.view, x.data(), kN, all.data());
    auto same_rows = [&](const std::vector<float>& got, int64_t first_token) {
      return std::memcmp(got.data(), all.data() + first_token * rows, got.size() * sizeof(float)) == 0;
    };
    for (int64_t t : {int64_t{0}, int64_t{5}, kN - 1}) {
      std::vector<float> one(static_cast<size_t>(rows));
      cpu::matmul_with(k, pool2, w.view, x.data() + t * cols, 1, one.data());
      EXPECT_TRUE(same_rows(one, t)) << "token " << t << " alone differs from the batch of " << kN;
    }
    for (int64_t n : {int64_t{3}, int64_t{17}}) {
      std::vector<float> sub(static_cast<size_t>(n * rows));
      cpu::matmul_with(k, pool2, w.view, x.data() + 10 * cols, n, sub.data());
      EXPECT_TRUE(same_rows(sub, 10)) << "a sub-batch of " << n << " differs from the batch of " << kN;
    }
    for (ThreadPool* p : {&pool1, &pool3}) {
      std::vector<float> again(all.size());
      cpu::matmul_with(k, *p, w.view, x.data(), kN, again.data());
      EXPECT_TRUE(same_rows(again, 0)) << p->n_threads() << " threads differ from 2";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTypeTest, ::testing::ValuesIn(test::matmul_types()),
                         [](const ::testing::TestParamInfo<GgmlType>& p) {
                           return std::string(format::ggml_type_name(p.param));
                         });

// Types without a SIMD kernel (q2_K, q3_K, q8_1) still work through the generic dequantizing path.
TEST(Matmul, TypesWithoutSimdKernelUseGenericPath) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  for (GgmlType type : {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ8_1}) {
    if (!quant::can_dequantize(type)) continue;
    SCOPED_TRACE(format::ggml_type_name(type));
    const int64_t cols = format::ggml_traits(type).block_size == 32 ? 96 : 512;
    std::vector<uint8_t> bytes(format::ggml_row_bytes(type, cols) * 4);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng() & 0x3b);  // keeps fp16 scales small and finite
    const MatrixView w{type, bytes.data(), 4, cols, format::ggml_row_bytes(type, cols)};
    const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(2 * cols));
    std::vector<float> y(8), y_ref(8);
    ref::matmul(pool, w, x.data(), 2, y_ref.data());
    cpu::matmul(pool, w, x.data(), 2, y.data());
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], y_ref[i], 1e-5 * (1.0 + std::fabs(double{y_ref[i]})));
  }
}

TEST(Matmul, PublicOpUsesBestTier) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  const OwnedMatrix w = test::random_matrix(rng, GgmlType::kQ4_K, 8, 512, false);
  const std::vector<float> x = test::random_floats(rng, 2 * 512);
  std::vector<float> a(16), b(16);
  cpu::matmul(pool, w.view, x.data(), 2, a.data());
  cpu::matmul_with(cpu::best_table(), pool, w.view, x.data(), 2, b.data());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

// Max |y - y_ref| and max |y_ref| of one matmul of every activation precision against ref::matmul on the raw
// activations, for a row block with an activation outlier (int8 blocks lose the small values next to it).
struct PrecisionErrors {
  double int8 = 0, int8x2 = 0, f32 = 0, scale = 0;
};

PrecisionErrors precision_errors(std::mt19937& rng, GgmlType type, int64_t rows, int64_t cols, int64_t n_tok) {
  ThreadPool pool(2);
  const OwnedMatrix w = test::random_matrix(rng, type, rows, cols, false);
  std::vector<float> x = test::random_floats(rng, static_cast<size_t>(n_tok * cols));
  x[3] = 300.0f;
  std::vector<float> y_ref(static_cast<size_t>(n_tok * rows)), y(y_ref.size());
  ref::matmul(pool, w.view, x.data(), n_tok, y_ref.data());
  PrecisionErrors e;
  for (const float v : y_ref) e.scale = std::max(e.scale, std::fabs(double{v}));
  for (const auto p : {cpu::ActPrecision::kInt8, cpu::ActPrecision::kInt8x2, cpu::ActPrecision::kFloat}) {
    cpu::set_act_precision(p);
    EXPECT_EQ(cpu::act_precision(), p);
    cpu::matmul(pool, w.view, x.data(), n_tok, y.data());
    double err = 0.0;
    for (size_t i = 0; i < y.size(); ++i) err = std::max(err, std::fabs(double{y[i]} - double{y_ref[i]}));
    (p == cpu::ActPrecision::kInt8 ? e.int8 : p == cpu::ActPrecision::kInt8x2 ? e.int8x2 : e.f32) = err;
  }
  cpu::set_act_precision(cpu::ActPrecision::kInt8);
  return e;
}

// f32 activations: the dequantized weights times the activations as given, equal to ref::matmul within
// float32 rounding. int8x2: the residual pass removes nearly all of the int8 rounding error (about 127x less,
// bounded here at 30x with margin), which is what the mode exists for.
TEST(Matmul, ActivationPrecisionsAgainstReferenceOnRawActivations) {
  std::mt19937 rng(11);
  for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0,
                        GgmlType::kF16}) {
    SCOPED_TRACE(format::ggml_type_name(type));
    const PrecisionErrors e = precision_errors(rng, type, 9, 512, 5);
    EXPECT_LT(e.f32, 1e-5 * e.scale);
    if (type == GgmlType::kF16) {
      EXPECT_EQ(e.int8, e.int8x2);  // f16 weights take float activations in every mode
      continue;
    }
    EXPECT_GT(e.int8, 100.0 * e.f32);  // the int8 path really differs here
    EXPECT_LT(e.int8x2 * 30.0, e.int8);
    EXPECT_LT(e.int8x2, 1e-3 * e.scale);
  }
}

// int8x2 keeps the batch and thread invariance of the int8 path: a token's row is bit-identical alone, in a
// batch of 70 (more than one 64-row tile block once doubled) and with 1 or 3 threads.
TEST(Matmul, Int8x2IsBatchAndThreadInvariant) {
  std::mt19937 rng(12);
  const int64_t rows = 37, cols = 512, n_tok = 70;
  const OwnedMatrix w = test::random_matrix(rng, GgmlType::kQ4_K, rows, cols, false);
  const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(n_tok * cols));
  cpu::set_act_precision(cpu::ActPrecision::kInt8x2);
  std::vector<float> batch(static_cast<size_t>(n_tok * rows)), batch3(batch.size()), one(static_cast<size_t>(rows));
  ThreadPool pool1(1), pool3(3);
  cpu::matmul(pool1, w.view, x.data(), n_tok, batch.data());
  cpu::matmul(pool3, w.view, x.data(), n_tok, batch3.data());
  EXPECT_EQ(std::memcmp(batch.data(), batch3.data(), batch.size() * sizeof(float)), 0);
  for (const int64_t t : {int64_t{0}, int64_t{33}, n_tok - 1}) {
    cpu::matmul(pool3, w.view, x.data() + t * cols, 1, one.data());
    EXPECT_EQ(std::memcmp(one.data(), batch.data() + t * rows, one.size() * sizeof(float)), 0) << t;
  }
  cpu::set_act_precision(cpu::ActPrecision::kInt8);
}

TEST(Matmul, ActivationPrecisionNames) {
  for (const auto p : {cpu::ActPrecision::kInt8, cpu::ActPrecision::kInt8x2, cpu::ActPrecision::kFloat}) {
    EXPECT_EQ(cpu::parse_act_precision(cpu::act_precision_name(p)), p);
  }
  EXPECT_FALSE(cpu::parse_act_precision("int4").has_value());
  EXPECT_FALSE(cpu::parse_act_precision("").has_value());
}

}  // namespace
}  // namespace specula::kernels
