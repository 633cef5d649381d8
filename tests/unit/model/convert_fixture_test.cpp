// convert vs llama.cpp: the HF folders of ../shared/fixtures/llamacpp converted by specula must equal the
// GGUF files llama.cpp's own converter wrote from them: same metadata keys in the same order with the same
// value types and values, and the same tensors (names, order, types, shapes, bytes). Keys ignored:
//   general.name        cosmetic: llama.cpp derives "Hf" from the folder name; no loader reads it
//   general.size_label  cosmetic: llama.cpp's parameter-count label ("227K"); no loader reads it
// and specula's own gemma4.attention.bidirectional_vision (llama.cpp has no such key), checked separately.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "model/convert/converter.h"
#include "model/convert/gguf_metadata.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using format::GgufFile;
using format::GgufValue;

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return false;
  if (const auto* x = a.as_array()) {
    const auto* y = b.as_array();
    if (y == nullptr || x->element_type != y->element_type || x->items.size() != y->items.size()) return false;
    for (size_t i = 0; i < x->items.size(); ++i) {
      if (!same_value(x->items[i], y->items[i])) return false;
    }
    return true;
  }
  if (a.is_string()) return *a.as_string() == *b.as_string();
  if (a.type == format::GgufType::kBool) return a.as_bool() == b.as_bool();
  if (a.type == format::GgufType::kFloat32 || a.type == format::GgufType::kFloat64)
    return a.as_double() == b.as_double();
  if (a.type == format::GgufType::kInt8 || a.type == format::GgufType::kInt16 || a.type == format::GgufType::kInt32 ||
      a.type == format::GgufType::kInt64) {
    return a.as_int() == b.as_int();
  }
  return a.as_uint() == b.as_uint();
}

const std::set<std::string> kIgnored = {"general.name", "general.size_label", kBidirectionalVisionKey};

void expect_same_metadata(const GgufFile& ours, const GgufFile& ref) {
  std::vector<std::pair<std::string, const GgufValue*>> a, b;
  for (const auto& [k, v] : ours.metadata()) {
    if (!kIgnored.count(k)) a.emplace_back(k, &v);
  }
  for (const auto& [k, v] : ref.metadata()) {
    if (!kIgnored.count(k)) b.emplace_back(k, &v);
  }
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first) << "key #" << i;
    if (a[i].first != b[i].first) continue;
    EXPECT_TRUE(same_value(*a[i].second, *b[i].second))
        << a[i].first << ": ours " << a[i].second->to_display() << " (" << format::gguf_type_name(a[i].second->type)
        << "), llama.cpp " << b[i].second->to_display() << " (" << format::gguf_type_name(b[i].second->type) << ")";
  }
}

void expect_same_tensors(const GgufFile& ours, const GgufFile& ref) {
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    const auto& x = ours.tensors()[i];
    const auto& y = ref.tensors()[i];
    ASSERT_EQ(x.name, y.name) << "tensor #" << i;
    EXPECT_EQ(x.type, y.type) << x.name;
    EXPECT_EQ(x.dims, y.dims) << x.name;
    const auto bx = ours.tensor_data(x), by = ref.tensor_data(y);
    ASSERT_EQ(bx.size(), by.size()) << x.name;
    EXPECT_EQ(std::memcmp(bx.data(), by.data(), bx.size()), 0) << x.name << " differs";
  }
}

struct Case {
  const char* fixture;
  const char* type;
};

class ConvertFixture : public testing::TestWithParam<Case> {};

TEST_P(ConvertFixture, EqualsLlamaCppConversion) {
  const Case c = GetParam();
  const std::string dir = test::shared_dir() + "/fixtures/llamacpp/" + c.fixture;
  ConvertOptions o;
  o.hf_dir = dir + "/hf";
  o.out_path = test::temp_dir() + "/out.gguf";
  auto ft = quant::parse_file_type(c.type);
  ASSERT_TRUE(ft.ok());
  o.file_type = ft.value();
  ThreadPool pool(2);
  auto summary = convert_hf_model(o, pool);
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  EXPECT_TRUE(summary->tokenizer);
  auto ours = GgufFile::open(o.out_path);
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  auto ref = GgufFile::open(dir + "/llamacpp-" + c.type + ".gguf");
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  expect_same_metadata(*ours, *ref);
  expect_same_tensors(*ours, *ref);
  // use_bidirectional_attention is null in every fixture: causal image attention.
  auto bidir = ours->get_bool(kBidirectionalVisionKey);
  ASSERT_TRUE(bidir.ok());
  EXPECT_FALSE(bidir.value());
  EXPECT_EQ(ours->get_string("general.name").value(), "hf");  // our default: the folder's name
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ConvertFixture,
                         testing::Values(Case{"text_e", "f32"}, Case{"text_e", "f16"}, Case{"text_moe", "f32"},
                                         Case{"text_moe", "f16"}, Case{"mtp", "f32"}, Case{"vision", "f32"}),
                         [](const auto& p) { return std::string(p.param.fixture) + "_" + p.param.type; });

TEST(ConvertFixture, VisionFolderLeavesOutTheTowers) {
  ConvertOptions o;
  o.hf_dir = test::shared_dir() + "/fixtures/llamacpp/vision/hf";
  o.out_path = test::temp_dir() + "/out.gguf";
  o.file_type = quant::FileType::kAllF32;
  ThreadPool pool(1);
  auto summary = convert_hf_model(o, pool);
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  // vision/README: 207 HF tensors = the ones llama.cpp's text GGUF holds (all but the generated rope_freqs)
  // + the vision tower and projector, which convert leaves out.
  auto ref = GgufFile::open(test::shared_dir() + "/fixtures/llamacpp/vision/llamacpp-f32.gguf");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(summary->n_tensors, ref->tensors().size());
  EXPECT_EQ(summary->n_skipped + summary->n_tensors - 1, 207u);
}

}  // namespace
}  // namespace specula::model
