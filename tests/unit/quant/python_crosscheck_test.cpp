// Bit-exact cross-checks of the codecs against the independent Python `gguf` package
// (tests/unit/quant/gguf_reference.py): our quantization equals gguf's for every type it can quantize,
// our dequantization of random blocks equals gguf's for every type it can dequantize, and gguf
// dequantizes our quantized rows (K-quants included) to exactly our dequantized values.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "format/ggml_type.h"
#include "quant/quant.h"
#include "test_paths.h"

namespace specula::quant {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> read_floats(const fs::path& path) {
  const auto bytes = read_bytes(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

int run_reference(const std::string& args) {
  const std::string script = test::source_dir() + "/tests/unit/quant/gguf_reference.py";
  return std::system(fmt::format("'{}' '{}' {}", test::python(), script, args).c_str());
}

GgmlType type_named(const std::string& name) {
  const auto t = format::parse_ggml_type(name);
  EXPECT_TRUE(t.has_value()) << name;
  return t.value_or(GgmlType::kF32);
}

// Index of the first float whose bits differ, or -1.
int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

class PythonCrossCheck : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(test::temp_dir());
    ASSERT_EQ(run_reference(fmt::format("gen '{}'", dir_->string())), 0) << "the gguf reference script failed";
    std::ifstream in(*dir_ / "manifest.json");
    manifest_ = new nlohmann::json(nlohmann::json::parse(in));
    rows_ = (*manifest_)["rows"].get<int64_t>();
    cols_ = (*manifest_)["cols"].get<int64_t>();
    input_ = new std::vector<float>(read_floats(*dir_ / "input.f32"));
    ASSERT_EQ(static_cast<int64_t>(input_->size()), rows_ * cols_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete manifest_;
    delete input_;
  }

  // Our quantization of input.f32, row by row.
  static std::vector<uint8_t> quantize_input(GgmlType type) {
    const size_t row_bytes = format::ggml_row_bytes(type, static_cast<size_t>(cols_));
    std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows_));
    for (int64_t r = 0; r < rows_; ++r) {
      quantize_row(type, input_->data() + r * cols_, out.data() + static_cast<size_t>(r) * row_bytes, cols_);
    }
    return out;
  }

  static inline fs::path* dir_ = nullptr;
  static inline nlohmann::json* manifest_ = nullptr;
  static inline std::vector<float>* input_ = nullptr;
  static inline int64_t rows_ = 0;
  static inline int64_t cols_ = 0;
};

TEST_F(PythonCrossCheck, QuantizeMatchesGgufBitForBit) {
  const auto names = (*manifest_)["quantize"].get<std::vector<std::string>>();
  ASSERT_GE(names.size(), 7u);
  for (const auto& name : names) {
    const GgmlType type = type_named(name);
    const auto ours = quantize_input(type);
    const auto theirs = read_bytes(*dir_ / ("py_q_" + name + ".bin"));
    ASSERT_EQ(ours.size(), theirs.size()) << name;
    const size_t block_bytes = format::ggml_traits(type).block_bytes;
    for (size_t i = 0; i < ours.size(); ++i) {
      if (ours[i] != theirs[i]) {
        ADD_FAILURE() << name << ": first differing byte " << i << " (block " << i / block_bytes << ")";
        break;
      }
    }
  }
}

TEST_F(PythonCrossCheck, DequantizeMatchesGgufExactly) {
  const auto& deq = (*manifest_)["dequantize"];
  ASSERT_GE(deq.size(), 13u);
  for (const auto& [name, n_values] : deq.items()) {
    const GgmlType type = type_named(name);
    const auto blocks = read_bytes(*dir_ / ("blocks_" + name + ".bin"));
    const int64_t n = n_values.get<int64_t>();
    ASSERT_EQ(blocks.size(), format::ggml_row_bytes(type, static_cast<size_t>(n))) << name;
    std::vector<float> ours(static_cast<size_t>(n));
    dequantize_row(type, blocks.data(), ours.data(), n);
    const auto theirs = read_floats(*dir_ / ("py_deq_" + name + ".f32"));
    ASSERT_EQ(ours.size(), theirs.size()) << name;
    const int64_t diff = first_bit_difference(ours, theirs);
    EXPECT_EQ(diff, -1) << name << ": value " << diff << " ours " << ours[static_cast<size_t>(std::max<int64_t>(diff, 0))]
                        << " gguf " << theirs[static_cast<size_t>(std::max<int64_t>(diff, 0))];
  }
}

TEST_F(PythonCrossCheck, GgufDequantizesOurQuantizationToOurValues) {
  const std::vector<std::string> names = {"F16",  "BF16", "Q4_0", "Q4_1", "Q5_0",
                                          "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"};
  std::string args = fmt::format("dequant '{}'", dir_->string());
  for (const auto& name : names) {
    write_bytes(*dir_ / ("ours_q_" + name + ".bin"), quantize_input(type_named(name)));
    args += fmt::format(" {}", name);
  }
  ASSERT_EQ(run_reference(args), 0);
  for (const auto& name : names) {
    const GgmlType type = type_named(name);
    const auto q = read_bytes(*dir_ / ("ours_q_" + name + ".bin"));
    std::vector<float> ours(input_->size());
    dequantize_row(type, q.data(), ours.data(), static_cast<int64_t>(ours.size()));
    const auto theirs = read_floats(*dir_ / ("ours_py_deq_" + name + ".f32"));
    EXPECT_EQ(first_bit_difference(ours, theirs), -1) << name;
  }
}

}  // namespace
}  // namespace specula::quant
