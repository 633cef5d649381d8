// synth --vocab with a real Gemma 4 vocabulary: llama.cpp's ggml-vocab-gemma-4.gguf (a conversion of the
// real 26B-A4B, 0 tensors). Its tokenizer keys are copied unchanged, and its model keys (which llama.cpp's
// converter wrote from the real config) equal what the 26b-a4b preset writes: the keys, value types and
// values of add_gemma4_metadata are checked against a real file.
#include <gtest/gtest.h>

#include <cstdlib>

#include "format/gguf_reader.h"
#include "model/synth/synth.h"
#include "test_paths.h"

namespace specula::model {
namespace {

bool same_value(const format::GgufValue& a, const format::GgufValue& b) {
  if (a.type != b.type) return false;
  if (const auto* x = a.as_array()) {
    const auto* y = b.as_array();
    if (y == nullptr || x->items.size() != y->items.size() || x->element_type != y->element_type) return false;
    for (size_t i = 0; i < x->items.size(); ++i) {
      if (!same_value(x->items[i], y->items[i])) return false;
    }
    return true;
  }
  if (a.is_string()) return *a.as_string() == *b.as_string();
  if (a.type == format::GgufType::kBool) return a.as_bool() == b.as_bool();
  if (a.type == format::GgufType::kFloat32 || a.type == format::GgufType::kFloat64)
    return a.as_double() == b.as_double();
  return a.as_int() == b.as_int() && a.as_uint() == b.as_uint();
}

class SynthVocab : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(test::temp_dir() + "/ggml-vocab-gemma-4.gguf");
    const std::string xz = test::shared_dir() + "/assets/llamacpp-vocab/ggml-vocab-gemma-4.gguf.xz";
    const std::string cmd = test::python() +
                            " -c \"import lzma,sys; open(sys.argv[2],'wb').write(lzma.decompress("
                            "open(sys.argv[1],'rb').read()))\" '" +
                            xz + "' '" + *path_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() { delete path_; }
  static std::string* path_;
};
std::string* SynthVocab::path_ = nullptr;

TEST_F(SynthVocab, CopiesTokenizerKeysAndMatchesTheReal26BMetadata) {
  SynthOptions o;
  o.preset = "26b-a4b";
  o.file_type = quant::FileType::kMostlyF16;  // the vocab file says general.file_type 1
  o.vocab_path = *path_;
  auto plan = plan_synth(o);
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  const std::vector<uint8_t> bytes = synth_metadata_bytes(*plan);
  auto ours = format::GgufFile::parse(bytes, "synth");
  ASSERT_TRUE(ours.ok());
  auto ref = format::GgufFile::open(*path_);
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  size_t tokenizer_keys = 0, model_keys = 0;
  for (const auto& [key, value] : ref->metadata()) {
    if (key.rfind("general.", 0) == 0 && key != "general.file_type" && key != "general.quantization_version" &&
        key != "general.architecture") {
      continue;  // name/finetune: the real checkpoint's labels
    }
    const format::GgufValue* mine = ours->find(key);
    ASSERT_NE(mine, nullptr) << key;
    EXPECT_TRUE(same_value(*mine, value)) << key << ": ours " << mine->to_display() << ", real " << value.to_display();
    (key.rfind("tokenizer.", 0) == 0 ? tokenizer_keys : model_keys)++;
  }
  EXPECT_GE(tokenizer_keys, 10u);
  EXPECT_GE(model_keys, 25u);
}

TEST_F(SynthVocab, SizeMismatchIsAnError) {
  SynthOptions o;
  o.preset = "tiny";
  o.vocab_path = *path_;
  auto plan = plan_synth(o);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("262144"), std::string::npos) << plan.error().message();
}

}  // namespace
}  // namespace specula::model
