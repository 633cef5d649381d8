// convert on other checkpoint layouts made from the text_e fixture: a text-only Gemma4ForCausalLM folder
// (flat config, "model." prefix), a sharded folder (index.json), BF16 weights, and broken tensor sets.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/half.h"
#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "format/safetensors.h"
#include "model/convert/converter.h"
#include "safetensors_header.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Tensor {
  std::string name;
  std::string dtype;  // "F32" or "BF16"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors) {
  json header = json::object();
  size_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::ofstream f(path, std::ios::binary);
  test::write_safetensors_header(f, header);
  for (const auto& t : tensors)
    f.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
}

std::string fixture_dir() { return test::shared_dir() + "/fixtures/llamacpp/text_e/hf"; }

std::vector<Tensor> fixture_tensors() {
  auto m = format::SafetensorsModel::open(fixture_dir());
  EXPECT_TRUE(m.ok());
  std::vector<Tensor> out;
  for (const auto& name : m->tensor_names()) {
    const auto* t = m->find(name);
    out.push_back({name, "F32", t->shape, std::vector<uint8_t>(t->bytes.begin(), t->bytes.end())});
  }
  return out;
}

// A folder with the fixture's tokenizer files and the given config.
std::string make_folder(const json& config) {
  const std::string dir = test::temp_dir();
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    fs::copy_file(fixture_dir() + "/" + f, dir + "/" + f);
  }
  std::ofstream(dir + "/config.json") << config.dump(2);
  return dir;
}

json fixture_config() { return json::parse(read_file(fixture_dir() + "/config.json").value()); }

Result<ConvertSummary> convert(const std::string& dir, const std::string& out,
                               quant::FileType type = quant::FileType::kAllF32) {
  ConvertOptions o;
  o.hf_dir = dir;
  o.out_path = out;
  o.file_type = type;
  o.model_name = "m";
  ThreadPool pool(2);
  return convert_hf_model(o, pool);
}

std::string reference_conversion() {
  const std::string out = test::temp_dir() + "/ref.gguf";
  auto s = convert(fixture_dir(), out);
  EXPECT_TRUE(s.ok()) << s.error().message();
  return out;
}

void expect_same_file(const std::string& a, const std::string& b) {
  auto x = read_file(a), y = read_file(b);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_TRUE(*x == *y) << a << " and " << b << " differ";
}

TEST(ConvertLayouts, CausalLmFolderGivesTheSameFile) {
  json config = fixture_config()["text_config"];
  config["architectures"] = {"Gemma4ForCausalLM"};
  const std::string dir = make_folder(config);
  auto tensors = fixture_tensors();
  for (auto& t : tensors) t.name = "model." + t.name.substr(std::string("model.language_model.").size());
  write_safetensors(dir + "/model.safetensors", tensors);
  const std::string out = dir + "/out.gguf";
  auto s = convert(dir, out);
  ASSERT_TRUE(s.ok()) << s.error().message();
  expect_same_file(out, reference_conversion());
}

TEST(ConvertLayouts, ShardedFolderGivesTheSameFile) {
  const std::string dir = make_folder(fixture_config());
  auto tensors = fixture_tensors();  // sorted by name: the two shards keep llama.cpp's order
  const size_t half = tensors.size() / 2;
  json index = {{"metadata", json::object()}, {"weight_map", json::object()}};
  const std::vector<Tensor> a(tensors.begin(), tensors.begin() + static_cast<ptrdiff_t>(half));
  const std::vector<Tensor> b(tensors.begin() + static_cast<ptrdiff_t>(half), tensors.end());
  write_safetensors(dir + "/model-00001-of-00002.safetensors", a);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", b);
  for (const auto& t : a) index["weight_map"][t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : b) index["weight_map"][t.name] = "model-00002-of-00002.safetensors";
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
  const std::string out = dir + "/out.gguf";
  auto s = convert(dir, out);
  ASSERT_TRUE(s.ok()) << s.error().message();
  expect_same_file(out, reference_conversion());
}

TEST(ConvertLayouts, Bf16WeightsWidenExactly) {
  const std::string dir = make_folder(fixture_config());
  auto tensors = fixture_tensors();
  std::vector<std::vector<float>> rounded;  // the bf16 values as float32, computed here
  for (auto& t : tensors) {
    const size_t n = t.bytes.size() / 4;
    std::vector<uint8_t> b(2 * n);
    std::vector<float> r(n);
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, t.bytes.data() + 4 * i, 4);
      const uint16_t h = fp32_to_bf16(f);
      std::memcpy(b.data() + 2 * i, &h, 2);
      r[i] = bf16_to_fp32(h);
    }
    t.dtype = "BF16";
    t.bytes = std::move(b);
    rounded.push_back(std::move(r));
  }
  write_safetensors(dir + "/model.safetensors", tensors);
  const std::string out = dir + "/out.gguf";
  ASSERT_TRUE(convert(dir, out, quant::FileType::kMostlyBF16).ok());
  auto f = format::GgufFile::open(out);
  ASSERT_TRUE(f.ok());
  const auto* embd = f->find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, format::GgmlType::kBF16);
  size_t k = 0;
  while (tensors[k].name != "model.language_model.embed_tokens.weight") ++k;
  const auto data = f->tensor_data(*embd);
  for (size_t i = 0; i < rounded[k].size(); ++i) {
    uint16_t h;
    std::memcpy(&h, data.data() + 2 * i, 2);
    ASSERT_EQ(bf16_to_fp32(h), rounded[k][i]) << i;
  }
  EXPECT_EQ(f->find_tensor("blk.0.attn_norm.weight")->type, format::GgmlType::kF32);  // norms stay F32
}

TEST(ConvertLayouts, TensorProblemsAreListedTogether) {
  const std::string dir = make_folder(fixture_config());
  auto tensors = fixture_tensors();
  std::vector<Tensor> kept;
  for (auto& t : tensors) {
    if (t.name == "model.language_model.layers.2.mlp.up_proj.weight") continue;  // missing
    if (t.name == "model.language_model.layers.0.self_attn.q_norm.weight") {     // wrong shape
      t.shape = {8, 2};
    }
    kept.push_back(t);
  }
  kept.push_back({"model.language_model.layers.5.self_attn.k_proj.weight", "F32", {1}, std::vector<uint8_t>(4)});
  write_safetensors(dir + "/model.safetensors", kept);
  auto s = convert(dir, dir + "/out.gguf");
  ASSERT_FALSE(s.ok());
  const std::string& m = s.error().message();
  EXPECT_NE(m.find("missing tensor 'model.language_model.layers.2.mlp.up_proj.weight' [64, 48]"), std::string::npos)
      << m;
  EXPECT_NE(m.find("'model.language_model.layers.0.self_attn.q_norm.weight' has shape [8, 2], the config implies [16]"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("unexpected tensor 'model.language_model.layers.5.self_attn.k_proj.weight'"), std::string::npos)
      << m;
  EXPECT_FALSE(fs::exists(dir + "/out.gguf"));
}

TEST(ConvertLayouts, MissingFolderPieces) {
  EXPECT_EQ(convert(test::temp_dir(), test::temp_dir() + "/x.gguf").error().code(), ErrorCode::kNotFound);
  const std::string dir = make_folder(fixture_config());  // config but no safetensors
  EXPECT_FALSE(convert(dir, dir + "/x.gguf").ok());
}

TEST(ConvertLayouts, WithoutTokenizerNoTokenizerKeys) {
  const std::string dir = test::temp_dir();
  fs::copy_file(fixture_dir() + "/config.json", dir + "/config.json");
  fs::copy_file(fixture_dir() + "/model.safetensors", dir + "/model.safetensors");
  auto s = convert(dir, dir + "/out.gguf");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_FALSE(s->tokenizer);
  EXPECT_FALSE(s->notes.empty());
  auto f = format::GgufFile::open(dir + "/out.gguf");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->find("tokenizer.ggml.model"), nullptr);
}

}  // namespace
}  // namespace specula::model

namespace specula::model {
namespace {

// The fixture folder with edited tokenizer files.
std::string tokenizer_folder(const std::function<void(json& tok, json& config)>& edit) {
  const std::string dir = test::temp_dir();
  for (const char* f : {"config.json", "model.safetensors", "special_tokens_map.json"}) {
    fs::copy_file(fixture_dir() + "/" + f, dir + "/" + f);
  }
  json tok = json::parse(read_file(fixture_dir() + "/tokenizer.json").value());
  json config = json::parse(read_file(fixture_dir() + "/tokenizer_config.json").value());
  edit(tok, config);
  std::ofstream(dir + "/tokenizer.json") << tok.dump();
  std::ofstream(dir + "/tokenizer_config.json") << config.dump();
  return dir;
}

TEST(ConvertTokenizer, ChatTemplateSources) {
  const std::string dir = tokenizer_folder([](json&, json&) {});
  std::ofstream(dir + "/chat_template.jinja") << "{{ bos_token }}jinja file";
  ASSERT_TRUE(convert(dir, dir + "/a.gguf").ok());
  auto a = format::GgufFile::open(dir + "/a.gguf");
  EXPECT_EQ(a->get_string("tokenizer.chat_template").value(), "{{ bos_token }}jinja file");
  // tokenizer_config.json's chat_template wins over the .jinja file (as in gguf-py's SpecialVocab).
  const std::string dir2 = tokenizer_folder([](json&, json& config) { config["chat_template"] = "from config"; });
  std::ofstream(dir2 + "/chat_template.jinja") << "jinja file";
  ASSERT_TRUE(convert(dir2, dir2 + "/b.gguf").ok());
  EXPECT_EQ(format::GgufFile::open(dir2 + "/b.gguf")->get_string("tokenizer.chat_template").value(), "from config");
}

// gemma4 token types: control for the tokenizer's special tokens, user-defined for the chat-parser tokens
// llama.cpp keeps visible, byte for <0xNN>, normal otherwise.
TEST(ConvertTokenizer, TokenTypes) {
  const std::string dir = tokenizer_folder([](json& tok, json& config) {
    json& vocab = tok["model"]["vocab"];
    for (const auto& [from, to] : {std::pair{"ery", "<|channel>"}, std::pair{"er,", "<|turn>"}}) {
      const int id = vocab[from].get<int>();
      vocab.erase(from);
      vocab[to] = id;
      tok["added_tokens"].push_back({{"id", id},
                                     {"content", to},
                                     {"special", true},
                                     {"normalized", false},
                                     {"lstrip", false},
                                     {"rstrip", false},
                                     {"single_word", false}});
    }
    config["extra_special_tokens"] = {"<|channel>", "<|turn>"};
  });
  ASSERT_TRUE(convert(dir, dir + "/out.gguf").ok());
  auto f = format::GgufFile::open(dir + "/out.gguf");
  ASSERT_TRUE(f.ok());
  const auto* tokens = f->get_array("tokenizer.ggml.tokens").value();
  const auto* types = f->get_array("tokenizer.ggml.token_type").value();
  auto type_of = [&](const std::string& piece) -> int64_t {
    for (size_t i = 0; i < tokens->items.size(); ++i) {
      if (*tokens->items[i].as_string() == piece) return types->items[i].as_int().value();
    }
    return -1;
  };
  EXPECT_EQ(type_of("<|channel>"), 4);
  EXPECT_EQ(type_of("<|turn>"), 3);
  EXPECT_EQ(type_of("<bos>"), 3);
  EXPECT_EQ(type_of("<0x41>"), 6);
  EXPECT_EQ(type_of("he"), 1);
}

TEST(ConvertTokenizer, NotBpeIsRefused) {
  const std::string dir = tokenizer_folder([](json& tok, json&) { tok["model"]["type"] = "Unigram"; });
  auto s = convert(dir, dir + "/out.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace specula::model
