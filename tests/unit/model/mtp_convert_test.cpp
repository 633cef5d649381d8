// Assistant conversion and synthesis: our conversion of the fixture's HF assistant equals llama.cpp's file (keys in
// order, every tensor bit for bit); a centroid-head assistant keeps its masked_embedding tensors and drafts with
// them; config errors are listed; every assistant preset fits its target preset (spec §3.1 shapes).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "format/safetensors.h"
#include "model/convert/assistant_convert.h"
#include "model/mtp/mtp_drafter.h"
#include "model/synth/assistant_presets.h"
#include "safetensors_header.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string mtp_dir() { return test::shared_dir() + "/fixtures/llamacpp/mtp"; }

std::string convert(const std::string& hf_dir) {
  ConvertOptions o;
  o.hf_dir = hf_dir;
  o.out_path = test::temp_dir() + "/assistant.gguf";
  o.file_type = quant::FileType::kAllF32;
  ThreadPool pool(1);
  auto r = convert_hf_model(o, pool);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return o.out_path;
}

TEST(MtpConvert, EqualsLlamaCppConversionBitForBit) {
  auto ours = format::GgufFile::open(convert(mtp_dir() + "/assistant_hf"));
  auto ref = format::GgufFile::open(mtp_dir() + "/assistant-llamacpp-f32.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  // Every gemma4-assistant.* key of llama.cpp's file, same value and same relative order.
  std::vector<std::string> ref_keys, our_keys;
  for (const auto& [k, v] : ref->metadata()) {
    if (k.rfind("gemma4-assistant.", 0) != 0 && k != "general.architecture" && k != "general.file_type") continue;
    ref_keys.push_back(k);
    const auto* mine = ours->find(k);
    ASSERT_NE(mine, nullptr) << k;
    EXPECT_EQ(mine->to_display(), v.to_display()) << k;
  }
  for (const auto& [k, v] : ours->metadata()) {
    if (std::find(ref_keys.begin(), ref_keys.end(), k) != ref_keys.end()) our_keys.push_back(k);
  }
  EXPECT_EQ(our_keys, ref_keys);
  ASSERT_EQ(ours->tensors().size(), ref->tensors().size());
  for (size_t i = 0; i < ref->tensors().size(); ++i) {
    const auto& a = ours->tensors()[i];
    const auto& b = ref->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.dims, b.dims) << b.name;
    EXPECT_EQ(a.type, b.type) << b.name;
    const auto da = ours->tensor_data(a), db = ref->tensor_data(b);
    EXPECT_TRUE(da.size() == db.size() && std::memcmp(da.data(), db.data(), da.size()) == 0) << b.name;
  }
}

void write_safetensors(const std::string& path, const std::vector<std::tuple<std::string, std::string,
                       std::vector<int64_t>, std::vector<uint8_t>>>& tensors) {
  json header = json::object();
  size_t offset = 0;
  for (const auto& [name, dtype, shape, bytes] : tensors) {
    header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {offset, offset + bytes.size()}}};
    offset += bytes.size();
  }
  std::ofstream f(path, std::ios::binary);
  test::write_safetensors_header(f, header);
  for (const auto& t : tensors) {
    f.write(reinterpret_cast<const char*>(std::get<3>(t).data()), static_cast<std::streamsize>(std::get<3>(t).size()));
  }
}

// The fixture assistant with use_ordered_embeddings: 40 centroids of 10 tokens, top 8.
std::string centroid_folder(const std::vector<float>& centroids, const std::vector<int64_t>& ordering) {
  const std::string dir = test::temp_dir() + "/assistant_centroids";
  fs::create_directories(dir);
  std::ifstream in(mtp_dir() + "/assistant_hf/config.json");
  json cfg = json::parse(in);
  cfg["use_ordered_embeddings"] = true;
  cfg["num_centroids"] = 40;
  cfg["centroid_intermediate_top_k"] = 8;
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  auto st = format::SafetensorsModel::open(mtp_dir() + "/assistant_hf");
  EXPECT_TRUE(st.ok());
  std::vector<std::tuple<std::string, std::string, std::vector<int64_t>, std::vector<uint8_t>>> tensors;
  for (const auto& name : st->tensor_names()) {
    const auto* t = st->find(name);
    tensors.emplace_back(name, "F32", t->shape, std::vector<uint8_t>(t->bytes.begin(), t->bytes.end()));
  }
  const auto* c = reinterpret_cast<const uint8_t*>(centroids.data());
  const auto* o = reinterpret_cast<const uint8_t*>(ordering.data());
  tensors.emplace_back("masked_embedding.centroids.weight", "F32", std::vector<int64_t>{40, 24},
                       std::vector<uint8_t>(c, c + centroids.size() * 4));
  tensors.emplace_back("masked_embedding.token_ordering", "I64", std::vector<int64_t>{400},
                       std::vector<uint8_t>(o, o + ordering.size() * 8));
  write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

TEST(MtpConvert, KeepsTheCentroidHead) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<float> centroids(40 * 24);
  for (auto& x : centroids) x = normal(rng);
  std::vector<int64_t> ordering(400);
  std::iota(ordering.begin(), ordering.end(), 0);
  std::shuffle(ordering.begin(), ordering.end(), rng);
  const std::string path = convert(centroid_folder(centroids, ordering));
  auto f = format::GgufFile::open(path);
  ASSERT_TRUE(f.ok());
  const auto* ord = f->find_tensor(kOrderingTensor);
  ASSERT_NE(ord, nullptr);
  EXPECT_EQ(ord->type, format::GgmlType::kI32);
  const auto od = f->tensor_data(*ord);
  for (size_t i = 0; i < 400; ++i) {
    int32_t v;
    std::memcpy(&v, od.data() + 4 * i, 4);
    ASSERT_EQ(v, ordering[i]);
  }
  const auto* cen = f->find_tensor(kCentroidsTensor);
  ASSERT_NE(cen, nullptr);
  EXPECT_EQ(std::memcmp(f->tensor_data(*cen).data(), centroids.data(), centroids.size() * 4), 0);
  EXPECT_EQ(f->get_int(kAssistantCentroidTopKKey).value(), 8);
  auto target = TextModel::load(mtp_dir() + "/llamacpp-f32.gguf");
  ASSERT_TRUE(target.ok());
  auto d = MtpDrafter::load(path, *target.value());
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_TRUE(d.value()->centroid_head());
  EXPECT_EQ(d.value()->config().centroid_top_k, 8);
}

TEST(MtpConvert, ConfigProblemsAreListed) {
  std::ifstream in(mtp_dir() + "/assistant_hf/config.json");
  json cfg = json::parse(in);
  cfg.erase("backbone_hidden_size");
  cfg["text_config"].erase("layer_types");
  auto r = parse_assistant_config(cfg.dump(), "config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("backbone_hidden_size"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("layer_types"), std::string::npos) << r.error().message();
  EXPECT_TRUE(is_assistant_config(cfg.dump()));
  EXPECT_FALSE(is_assistant_config("{\"architectures\": [\"Gemma4ForCausalLM\"]}"));
  EXPECT_FALSE(is_assistant_config("not json"));
}

// Metadata-only GGUF of a synth plan, parsed back (no tensors are written).
format::GgufFile parse_plan(const SynthPlan& plan, std::vector<uint8_t>& bytes) {
  bytes = synth_metadata_bytes(plan);
  auto f = format::GgufFile::parse(bytes, plan.preset.name);
  EXPECT_TRUE(f.ok()) << f.error().message();
  return std::move(f.value());
}

TEST(MtpSynth, EveryAssistantPresetFitsItsTarget) {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"e2b-assistant", "e2b"}, {"e4b-assistant", "e4b"}, {"26b-a4b-assistant", "26b-a4b"},
      {"31b-assistant", "31b"}, {"tiny-assistant", "tiny"}};
  for (const auto& [assistant, target] : pairs) {
    SynthOptions a, t;
    a.preset = assistant;
    t.preset = target;
    auto ap = plan_synth(a);
    auto tp = plan_synth(t);
    ASSERT_TRUE(ap.ok() && tp.ok()) << assistant;
    std::vector<uint8_t> ab, tb;
    const format::GgufFile af = parse_plan(ap.value(), ab), tf = parse_plan(tp.value(), tb);
    auto ac = read_assistant_config(af);
    ASSERT_TRUE(ac.ok()) << ac.error().message();
    auto tc = read_text_config(tf);
    ASSERT_TRUE(tc.ok()) << tc.error().message();
    const auto h = assistant_preset(assistant).value().hparams;
    ac->vocab = h.vocab;
    EXPECT_TRUE(check_assistant_compatible(ac.value(), tc.value(), tp->preset.hparams.vocab).ok()) << assistant;
    // The centroid head exactly for the E presets (and the tiny one, which exercises it).
    const bool centroids = std::any_of(ap->tensors.begin(), ap->tensors.end(),
                                       [](const TensorSpec& s) { return s.name == kCentroidsTensor; });
    EXPECT_EQ(centroids, assistant[0] == 'e' || assistant == "tiny-assistant") << assistant;
  }
  // Spec §3.1 shapes of the E2B assistant: Hb 1536, Ha 256, 4 layers S,S,S,F, 4 / 1 / 1 heads, 256 / 512, 2048.
  const auto e2b = assistant_preset("e2b-assistant").value().hparams;
  EXPECT_EQ(e2b.backbone, 1536);
  EXPECT_EQ(e2b.hidden, 256);
  EXPECT_EQ(e2b.sliding, (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(e2b.n_heads * 1000 + e2b.layer_kv_heads(0) * 10 + e2b.layer_kv_heads(3), 4011);
  EXPECT_EQ(e2b.ffn, 2048);
  EXPECT_EQ(e2b.n_centroids, 2048);
  const auto b31 = assistant_preset("31b-assistant").value().hparams;
  EXPECT_EQ(b31.layer_kv_heads(0) * 100 + b31.layer_kv_heads(3), 1604);
}

TEST(MtpSynth, TinyAssistantLoadsAgainstTheTinyTarget) {
  ThreadPool pool(1);
  SynthOptions t, a;
  t.preset = "tiny";
  a.preset = "tiny-assistant";
  const std::string dir = test::temp_dir();
  ASSERT_TRUE(synth_model(t, dir + "/tiny.gguf", pool).ok());
  ASSERT_TRUE(synth_model(a, dir + "/tiny-assistant.gguf", pool).ok());
  auto target = TextModel::load(dir + "/tiny.gguf");
  ASSERT_TRUE(target.ok()) << target.error().message();
  auto d = MtpDrafter::load(dir + "/tiny-assistant.gguf", *target.value());
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_TRUE(d.value()->centroid_head());
}

}  // namespace
}  // namespace specula::model
