// convert --mmproj vs llama.cpp: the vision fixture's HF folder converted by specula must equal the mmproj GGUF
// llama.cpp's converter (Gemma4VisionAudioModel, --mmproj) wrote from it: byte for byte at f32 (general.name
// "Hf" given, llama.cpp's title-cased folder name), and at f16 the types of llama.cpp's --outtype f16 rules
// (matrices and the patch kernel F16; norms, clamp scalars and the position table F32) with f16-rounded values.
// Also: a 26B-style tower (standardize, no clippable linears; tests/data/vision_fixtures/std_bidir), a sharded
// BF16 checkpoint, q8_0's F16 fallback, llama.cpp's size label, and clear errors for a folder without a vision tower or with tensors
// that contradict vision_config.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/half.h"
#include "base/mapped_file.h"
#include "base/thread_pool.h"
#include "format/gguf_reader.h"
#include "format/safetensors.h"
#include "model/convert/mmproj_convert.h"
#include "model/vision/vision_model.h"
#include "safetensors_header.h"
#include "test_paths.h"

namespace specula::model {
namespace {

using format::GgmlType;
using format::GgufFile;
namespace fs = std::filesystem;

std::string vision_dir() { return test::shared_dir() + "/fixtures/llamacpp/vision"; }
std::string std_dir() { return test::source_dir() + "/tests/data/vision_fixtures/std_bidir/hf"; }

Result<ConvertSummary> convert(const std::string& hf, const std::string& out, const char* type,
                               const std::string& name = "") {
  ConvertOptions o;
  o.hf_dir = hf;
  o.out_path = out;
  o.file_type = quant::parse_file_type(type).value();
  o.model_name = name;
  ThreadPool pool(2);
  return convert_hf_mmproj(o, pool);
}

std::vector<float> as_f32(const GgufFile& f, const format::GgufTensorInfo& t) {
  const auto bytes = f.tensor_data(t);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

TEST(ConvertMmproj, F32EqualsLlamaCppFileByteForByte) {
  const std::string out = test::temp_dir() + "/mmproj.gguf";
  auto s = convert(vision_dir() + "/hf", out, "f32", "Hf");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->n_tensors, 126u);  // 3 layers x (6 norms + 7 linears x (weight + 4 clamps)) + projector, patch, position
  EXPECT_EQ(s->n_skipped, 81u);   // the 81 text-model tensors of the 207 HF tensors
  auto ours = read_file(out);
  auto ref = read_file(vision_dir() + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  ASSERT_EQ(ours->size(), ref->size());
  EXPECT_TRUE(*ours == *ref) << "first difference at byte "
                             << std::mismatch(ours->begin(), ours->end(), ref->begin()).first - ours->begin();
}

TEST(ConvertMmproj, DefaultNameIsTheFolderAndKeysMatch) {
  const std::string out = test::temp_dir() + "/mmproj.gguf";
  ASSERT_TRUE(convert(vision_dir() + "/hf", out, "f32").ok());
  auto ours = GgufFile::open(out);
  auto ref = GgufFile::open(vision_dir() + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  EXPECT_EQ(ours->get_string("general.name").value(), "hf");
  ASSERT_EQ(ours->metadata().size(), ref->metadata().size());
  for (size_t i = 0; i < ref->metadata().size(); ++i) {
    const auto& [ka, va] = ours->metadata()[i];
    const auto& [kb, vb] = ref->metadata()[i];
    EXPECT_EQ(ka, kb) << "key #" << i;
    EXPECT_EQ(va.type, vb.type) << ka;
    if (ka != "general.name") {
      EXPECT_EQ(va.to_display(), vb.to_display()) << ka;
    }
  }
}

// llama.cpp's --outtype f16 (MmprojModel / Gemma4VisionAudioModel.tensor_force_quant and prepare_tensors):
// F16 for every ".weight" tensor of 2+ dims but the position table; F32 for the rest.
GgmlType llamacpp_f16_type(const format::GgufTensorInfo& t) {
  const bool weight = t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0;
  return weight && t.dims.size() >= 2 && t.name != "v.position_embd.weight" ? GgmlType::kF16 : GgmlType::kF32;
}

TEST(ConvertMmproj, F16HasLlamaCppTypesAndRoundedValues) {
  const std::string out = test::temp_dir() + "/mmproj-f16.gguf";
  ASSERT_TRUE(convert(vision_dir() + "/hf", out, "f16").ok());
  auto ours = GgufFile::open(out);
  auto ref = GgufFile::open(vision_dir() + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  EXPECT_EQ(ours->get_uint("general.file_type").value(), 1u);
  ASSERT_EQ(ours->tensors().size(), ref->tensors().size());
  size_t n_f16 = 0;
  for (size_t i = 0; i < ref->tensors().size(); ++i) {
    const auto& x = ours->tensors()[i];
    const auto& y = ref->tensors()[i];
    ASSERT_EQ(x.name, y.name);
    EXPECT_EQ(x.dims, y.dims) << x.name;
    EXPECT_EQ(x.type, llamacpp_f16_type(y)) << x.name;
    const std::vector<float> want = as_f32(*ref, y);
    const auto got = ours->tensor_data(x);
    if (x.type == GgmlType::kF32) {
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size()), 0) << x.name;
      continue;
    }
    ++n_f16;
    ASSERT_EQ(got.size(), want.size() * 2) << x.name;
    for (size_t k = 0; k < want.size(); ++k) {
      uint16_t h;
      std::memcpy(&h, got.data() + 2 * k, 2);
      ASSERT_EQ(h, fp32_to_fp16(want[k])) << x.name << " [" << k << "]";
    }
  }
  EXPECT_EQ(n_f16, 3u * 7u + 2u);  // 7 linears per layer, the projector, the patch kernel
}

TEST(ConvertMmproj, Q8_0FallsBackToF16ForRowsNotMultipleOf32) {
  const std::string out = test::temp_dir() + "/mmproj-q8.gguf";
  ASSERT_TRUE(convert(vision_dir() + "/hf", out, "q8_0").ok());
  auto f = GgufFile::open(out);
  ASSERT_TRUE(f.ok());
  // D = 32, MLP 80: ffn_down's rows hold 80 values (not a multiple of 32, gguf-py's QuantError -> F16).
  EXPECT_EQ(f->find_tensor("v.blk.0.ffn_down.weight")->type, GgmlType::kF16);
  EXPECT_EQ(f->find_tensor("v.blk.0.ffn_up.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(f->find_tensor("mm.input_projection.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(f->find_tensor("v.patch_embd.weight")->type, GgmlType::kF32);  // F16 only for --outtype f16
  EXPECT_EQ(f->find_tensor("v.position_embd.weight")->type, GgmlType::kF32);
  EXPECT_EQ(f->find_tensor("v.blk.0.attn_q.input_min")->type, GgmlType::kF32);
}

TEST(ConvertMmproj, EmbeddingsEqualThoseOfLlamaCppFile) {
  const std::string out = test::temp_dir() + "/mmproj.gguf";
  ASSERT_TRUE(convert(vision_dir() + "/hf", out, "f32").ok());
  auto ours = VisionModel::load(out);
  auto ref = VisionModel::load(vision_dir() + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(ours.ok()) << ours.error().message();
  ASSERT_TRUE(ref.ok());
  EXPECT_TRUE((*ours)->config().clipped);
  EXPECT_FALSE((*ours)->config().standardize);
  auto px = read_file(vision_dir() + "/coffee.pixel_values.f32");
  auto pos = read_file(vision_dir() + "/coffee.position_ids.i32");
  ASSERT_TRUE(px.ok() && pos.ok());
  std::vector<float> pixels(px->size() / 4);
  std::memcpy(pixels.data(), px->data(), px->size());
  std::vector<int32_t> positions(pos->size() / 4);
  std::memcpy(positions.data(), pos->data(), pos->size());
  ThreadPool pool(2);
  auto a = (*ours)->encode(pool, pixels, positions);
  auto b = (*ref)->encode(pool, pixels, positions);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->n_tokens, 60);
  EXPECT_EQ(a->embeds, b->embeds);
}

TEST(ConvertMmproj, StandardizedTowerWithoutClamps) {
  const std::string out = test::temp_dir() + "/mmproj-std.gguf";
  auto s = convert(std_dir(), out, "f32");
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->n_tensors, 44u);  // projector + 3 x 13 + patch + position + std_bias + std_scale
  auto f = GgufFile::open(out);
  ASSERT_TRUE(f.ok());
  auto st = format::SafetensorsModel::open(std_dir());
  ASSERT_TRUE(st.ok());
  for (const char* name : {"std_bias", "std_scale"}) {
    const auto* t = f->find_tensor(std::string("v.") + name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, GgmlType::kF32);
    EXPECT_EQ(as_f32(*f, *t), st->read_f32(std::string("model.vision_tower.") + name).value()) << name;
  }
  EXPECT_EQ(f->find_tensor("v.blk.0.attn_q.input_min"), nullptr);
  EXPECT_EQ(as_f32(*f, *f->find_tensor("v.blk.2.attn_out.weight")),
            st->read_f32("model.vision_tower.encoder.layers.2.self_attn.o_proj.linear.weight").value());
  auto m = VisionModel::load(out);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_TRUE((*m)->config().standardize);
  EXPECT_FALSE((*m)->config().clipped);
}

// A copy of the std_bidir folder with config.json edited by `edit`.
std::string edited_copy(const std::function<void(nlohmann::json&)>& edit) {
  const std::string dir = test::temp_dir() + "/hf";
  fs::create_directories(dir);
  for (const char* f : {"model.safetensors", "processor_config.json"}) fs::copy_file(std_dir() + "/" + f, dir + "/" + f);
  nlohmann::json cfg = nlohmann::json::parse(read_file(std_dir() + "/config.json").value());
  edit(cfg);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  return dir;
}

TEST(ConvertMmproj, TensorsContradictingTheConfigAreListed) {
  const std::string dir = edited_copy([](nlohmann::json& c) { c["vision_config"]["standardize"] = false; });
  auto s = convert(dir, test::temp_dir() + "/x.gguf", "f32");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("unexpected tensor 'model.vision_tower.std_bias'"), std::string::npos)
      << s.error().message();
  const std::string dir2 = edited_copy([](nlohmann::json& c) { c["vision_config"]["use_clipped_linears"] = true; });
  auto s2 = convert(dir2, test::temp_dir() + "/x.gguf", "f32");
  ASSERT_FALSE(s2.ok());
  EXPECT_NE(s2.error().message().find("missing tensor 'model.vision_tower.encoder.layers.0.mlp.down_proj.input_max'"),
            std::string::npos)
      << s2.error().message();
}

TEST(ConvertMmproj, FolderWithoutVisionTowerIsAClearError) {
  auto s = convert(test::shared_dir() + "/fixtures/llamacpp/text_e/hf", test::temp_dir() + "/x.gguf", "f16");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("no vision_config"), std::string::npos) << s.error().message();
  auto q = convert(vision_dir() + "/hf", test::temp_dir() + "/x.gguf", "q4_k_m");
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().message().find("f32, f16, bf16 or q8_0"), std::string::npos) << q.error().message();
}

void write_safetensors(const std::string& path, const format::SafetensorsModel& m, const std::vector<std::string>& names) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<uint8_t> data;
  for (const auto& name : names) {  // F32 -> BF16 (round to nearest even)
    const std::vector<float> v = m.read_f32(name).value();
    const size_t start = data.size();
    for (const float x : v) {
      const uint16_t b = fp32_to_bf16(x);
      data.push_back(static_cast<uint8_t>(b & 0xff));
      data.push_back(static_cast<uint8_t>(b >> 8));
    }
    header[name] = {{"dtype", "BF16"}, {"shape", m.find(name)->shape}, {"data_offsets", {start, data.size()}}};
  }
  std::ofstream f(path, std::ios::binary);
  test::write_safetensors_header(f, header);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Released checkpoints are BF16 and sharded: a BF16 copy of the fixture in two shards (split in name order, so
// llama.cpp's shard-by-shard order is the single file's) converts to the llama.cpp file's tensors rounded to
// BF16 and widened back (llama.cpp widens BF16 to F32 before writing), at the same names, shapes and order.
TEST(ConvertMmproj, ShardedBf16CheckpointWidensExactly) {
  const std::string dir = test::temp_dir() + "/hf";
  fs::create_directories(dir);
  for (const char* f : {"config.json", "processor_config.json"}) fs::copy_file(vision_dir() + "/hf/" + f, dir + "/" + f);
  auto st = format::SafetensorsModel::open(vision_dir() + "/hf");
  ASSERT_TRUE(st.ok());
  const std::vector<std::string> names = st->tensor_names();
  const auto mid = names.begin() + static_cast<ptrdiff_t>(names.size() / 2);
  const std::vector<std::string> a(names.begin(), mid), b(mid, names.end());
  write_safetensors(dir + "/model-00001-of-00002.safetensors", *st, a);
  write_safetensors(dir + "/model-00002-of-00002.safetensors", *st, b);
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  for (const auto& n : a) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (const auto& n : b) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  std::ofstream(dir + "/model.safetensors.index.json") << index.dump();

  const std::string out = test::temp_dir() + "/mmproj.gguf";
  auto s = convert(dir, out, "f32");
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto ours = GgufFile::open(out);
  auto ref = GgufFile::open(vision_dir() + "/mmproj-llamacpp-f32.gguf");
  ASSERT_TRUE(ours.ok() && ref.ok());
  ASSERT_EQ(ours->tensors().size(), ref->tensors().size());
  for (size_t i = 0; i < ref->tensors().size(); ++i) {
    const auto& x = ours->tensors()[i];
    const auto& y = ref->tensors()[i];
    ASSERT_EQ(x.name, y.name);
    EXPECT_EQ(x.dims, y.dims) << x.name;
    std::vector<float> want = as_f32(*ref, y);
    for (float& v : want) v = round_to_bf16(v);
    EXPECT_EQ(as_f32(*ours, x), want) << x.name;
  }
}

TEST(ConvertMmproj, SizeLabelAsGgufPy) {
  // gguf-py model_weight_count_rounded_notation, worked by hand: scaled value, max(2 - digits of round(x), 0)
  // decimals (round(0.4) = 0 has no digits).
  EXPECT_EQ(mmproj_size_label(66100), "66K");
  EXPECT_EQ(mmproj_size_label(400), "0.40K");
  EXPECT_EQ(mmproj_size_label(999), "1.0K");
  EXPECT_EQ(mmproj_size_label(428000000), "428M");
  EXPECT_EQ(mmproj_size_label(1500000000), "1.5B");
}

}  // namespace
}  // namespace specula::model
