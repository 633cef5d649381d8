#include "format/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gguf_test_util.h"
#include "test_paths.h"

namespace specula::format {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string fixture(const std::string& name) { return test::shared_dir() + "/fixtures/llamacpp/" + name; }

// meta.json lists HF tensors as {name, shape, dtype "float32"}; for mtp/ it has "target" and "assistant" lists.
void expect_matches_listing(const SafetensorsModel& m, const json& listing) {
  ASSERT_TRUE(listing.is_array());
  EXPECT_EQ(m.n_tensors(), listing.size());
  for (const auto& entry : listing) {
    const std::string name = entry["name"];
    const SafetensorsTensor* t = m.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->shape, entry["shape"].get<std::vector<int64_t>>()) << name;
    ASSERT_EQ(entry["dtype"], "float32") << name;
    EXPECT_EQ(t->dtype, SafetensorsDtype::kF32) << name;
  }
}

// Compares every tensor's dtype, shape and strided samples with numpy's reading of the same file.
void expect_matches_numpy(const SafetensorsModel& m, const std::string& file) {
  const std::string out = test::temp_dir() + "/dump.json";
  ASSERT_EQ(testing::run_python("safetensors_reference.py", fmt::format("dump '{}' > '{}'", file, out)), 0);
  const json want = json::parse(testing::read_text(out));
  ASSERT_EQ(want.size(), m.n_tensors());
  for (const auto& [name, w] : want.items()) {
    const SafetensorsTensor* t = m.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(safetensors_dtype_name(t->dtype), w["dtype"].get<std::string>());
    EXPECT_EQ(t->shape, w["shape"].get<std::vector<int64_t>>());
    auto values = m.read_f32(name);
    ASSERT_TRUE(values.ok()) << values.error().message();
    const size_t stride = w["stride"];
    const auto& samples = w["samples"];
    for (size_t i = 0; i < samples.size(); ++i) {
      ASSERT_EQ(static_cast<double>(values.value()[i * stride]), samples[i].get<double>()) << name << " [" << i * stride << "]";
    }
  }
}

TEST(Safetensors, FixtureModelsMatchTheirListingAndNumpy) {
  for (const std::string dir : {"text_e", "text_moe", "vision", "mtp"}) {
    SCOPED_TRACE(dir);
    const json meta = json::parse(testing::read_text(fixture(dir + "/meta.json")));
    auto m = SafetensorsModel::open(fixture(dir + "/hf"));
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(m->metadata().at("format"), "pt");
    const json& listing = dir == "mtp" ? meta["hf_tensors"]["target"] : meta["hf_tensors"];
    expect_matches_listing(*m, listing);
    expect_matches_numpy(*m, fixture(dir + "/hf/model.safetensors"));
  }
  const json meta = json::parse(testing::read_text(fixture("mtp/meta.json")));
  auto assistant = SafetensorsModel::open(fixture("mtp/assistant_hf/model.safetensors"));  // a file path
  ASSERT_TRUE(assistant.ok()) << assistant.error().message();
  expect_matches_listing(*assistant, meta["hf_tensors"]["assistant"]);
}

TEST(Safetensors, ShardedModelMatchesNumpy) {
  const std::string dir = test::temp_dir();
  ASSERT_EQ(testing::run_python("safetensors_reference.py", fmt::format("shard '{}'", dir)), 0);
  for (const std::string& path : {dir, dir + "/model.safetensors.index.json"}) {
    auto m = SafetensorsModel::open(path);
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(m->shards().size(), 3u);
    const json want = json::parse(testing::read_text(dir + "/expected.json"));
    ASSERT_EQ(m->n_tensors(), want.size());
    for (const auto& [name, w] : want.items()) {
      SCOPED_TRACE(name);
      auto t = m->get(name);
      ASSERT_TRUE(t.ok());
      EXPECT_EQ(safetensors_dtype_name(t.value()->dtype), w["dtype"].get<std::string>());
      EXPECT_EQ(t.value()->shape, w["shape"].get<std::vector<int64_t>>());
      const bool is_int = w["dtype"] == "I32" || w["dtype"] == "I64";
      if (is_int) {
        auto v = m->read_i64(name);
        ASSERT_TRUE(v.ok());
        EXPECT_EQ(v.value(), w["values"].get<std::vector<int64_t>>());
        auto f = m->read_f32(name);
        ASSERT_FALSE(f.ok());
        EXPECT_EQ(f.error().code(), ErrorCode::kUnsupported);
      } else {
        auto v = m->read_f32(name);
        ASSERT_TRUE(v.ok());
        std::vector<double> got(v.value().begin(), v.value().end());
        EXPECT_EQ(got, w["values"].get<std::vector<double>>());
        EXPECT_EQ(m->read_i64(name).error().code(), ErrorCode::kUnsupported);
      }
    }
    EXPECT_EQ(m->find("model.norm.weight")->shard, 0u);
    EXPECT_EQ(m->find("token_ordering")->shard, 1u);
    EXPECT_EQ(m->get("nope").error().code(), ErrorCode::kNotFound);
  }
}

// A safetensors file from a raw header text and data size.
std::vector<uint8_t> st_bytes(const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
  const uint64_t len = claimed_len != 0 ? claimed_len : header.size();
  std::string s(8, '\0');
  std::memcpy(s.data(), &len, 8);
  s += header;
  s.append(data_bytes, '\0');
  return {s.begin(), s.end()};
}

void expect_error(const std::vector<uint8_t>& bytes, ErrorCode code, const std::string& fragment) {
  auto r = SafetensorsFile::parse(bytes, "bad.safetensors");
  ASSERT_FALSE(r.ok()) << "expected: " << fragment;
  EXPECT_EQ(r.error().code(), code) << r.error().message();
  EXPECT_NE(r.error().message().find(fragment), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find_first_of("\r\n"), std::string::npos) << r.error().message();
}

TEST(Safetensors, RejectsCorruptHeaders) {
  const auto kC = ErrorCode::kCorruptData;
  expect_error({1, 2, 3}, kC, "too small");
  expect_error(st_bytes("{}", 0, 1000), kC, "header length 1000 runs past the end");
  expect_error(st_bytes("{\"a\": ", 0), kC, "invalid JSON");
  expect_error(st_bytes("[1, 2]", 0), kC, "not a JSON object");
  expect_error(st_bytes(R"({"__metadata__": {"a": 1}})", 0), kC, "__metadata__ value of 'a' is not a string");
  expect_error(st_bytes(R"({"t": 3})", 0), kC, "tensor 't': entry is not an object");
  expect_error(st_bytes(R"({"t": {"shape": [1], "data_offsets": [0, 4]}})", 4), kC, "dtype");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), kC, "shape");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [1]}})", 4), kC, "data_offsets");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4), kC,
               "shape entry -1 is not a non-negative integer");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4), kC, "shape entry");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4),
               kC, "too many elements");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [0, 4294967296, 4294967296], "data_offsets": [0, 0]}})", 4),
               kC, "too many elements");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4), kC,
               "data_offsets [4, 0] do not lie inside the 4 data bytes");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4), kC,
               "do not lie inside");
  expect_error(st_bytes(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 18446744073709551615]}})", 4), kC,
               "do not lie inside");
  expect_error(st_bytes(R"({"t": {"dtype": "F16", "shape": [3], "data_offsets": [0, 4]}})", 4), kC,
               "F16 x [3] needs 6 bytes");
  expect_error(st_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8), kC,
               "tensors 'a' and 'b' overlap");
  expect_error(st_bytes("{\"bad\\nname\": 1}", 0), kC, "bad\\x0aname");
  // Deep nesting must not exhaust the stack.
  expect_error(st_bytes(std::string(100000, '[') + std::string(100000, ']'), 0), kC, "not a JSON object");
  const auto unsupported = st_bytes(R"({"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})", 8);
  expect_error(unsupported, ErrorCode::kUnsupported, "tensor 'w' has dtype F64");
  expect_error(st_bytes(R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1),
               ErrorCode::kUnsupported, "dtype F8_E4M3");
  // Valid edge cases: empty header object, empty tensor, I64 tensor.
  EXPECT_TRUE(SafetensorsFile::parse(st_bytes("{}", 0), "ok").ok());
  auto ok = SafetensorsFile::parse(
      st_bytes(R"({"e": {"dtype": "BF16", "shape": [0, 5], "data_offsets": [0, 0]},
                  "i": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8), "ok");
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->tensors().size(), 2u);
}

TEST(Safetensors, TruncatedFixtureFails) {
  const auto bytes = testing::read_bytes(fixture("text_e/hf/model.safetensors"));
  auto full = SafetensorsFile::parse(bytes, "full");
  ASSERT_TRUE(full.ok());
  const size_t header_end = 8 + full->header_bytes();
  for (size_t n = 0; n < bytes.size(); n += (n < header_end + 16 ? 7 : 4099)) {
    auto r = SafetensorsFile::parse(std::span(bytes).first(n), "cut");
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code(), ErrorCode::kCorruptData);
  }
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(Safetensors, RejectsBadIndexes) {
  const std::string dir = test::temp_dir();
  ASSERT_EQ(testing::run_python("safetensors_reference.py", fmt::format("shard '{}'", dir)), 0);
  const std::string index = dir + "/model.safetensors.index.json";
  const json good = json::parse(testing::read_text(index));
  auto expect = [&](const json& j, ErrorCode code, const std::string& fragment) {
    write_text(index, j.is_string() ? j.get<std::string>() : j.dump());
    auto m = SafetensorsModel::open(dir);
    ASSERT_FALSE(m.ok()) << fragment;
    EXPECT_EQ(m.error().code(), code) << m.error().message();
    EXPECT_NE(m.error().message().find(fragment), std::string::npos) << m.error().message();
  };
  expect("{not json", ErrorCode::kCorruptData, "invalid JSON");
  expect(json{{"metadata", {}}}, ErrorCode::kCorruptData, "no \"weight_map\"");
  json j = good;
  j["weight_map"]["model.norm.weight"] = "../model-00001-of-00003.safetensors";
  expect(j, ErrorCode::kCorruptData, "not a file beside the index");
  j = good;
  j["weight_map"]["model.norm.weight"] = "model-00002-of-00003.safetensors";
  expect(j, ErrorCode::kCorruptData, "weight_map puts 'model.norm.weight' in model-00002-of-00003.safetensors");
  j = good;
  j["weight_map"]["extra"] = "missing.safetensors";
  expect(j, ErrorCode::kNotFound, "missing.safetensors");
  j = good;
  j["weight_map"].erase("model.norm.weight");
  expect(j, ErrorCode::kCorruptData, "the shards hold 7 tensors but weight_map lists 6");
  j = good;
  j["weight_map"]["model.norm.weight"] = 5;
  expect(j, ErrorCode::kCorruptData, "is not a file name");
  fs::remove(index);
  fs::remove(dir + "/expected.json");
  auto none = SafetensorsModel::open(dir);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace specula::format
