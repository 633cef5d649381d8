// Helpers shared by the GGUF tests: a JSON rendering of values and files that matches the one the Python
// reference scripts (gguf_reference_*.py) print, a byte builder for hand-made files, and a script runner.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "format/gguf_value.h"
#include "test_paths.h"

namespace specula::format::testing {

inline std::string to_hex(std::span<const uint8_t> bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (const uint8_t b : bytes) s += fmt::format("{:02x}", b);
  return s;
}

// {"t": type, "v": scalar} or {"t": "arr", "e": element type, "v": [...]}.
inline nlohmann::json value_json(const GgufValue& v) {
  nlohmann::json j;
  j["t"] = gguf_type_name(v.type);
  if (const auto* u = std::get_if<uint64_t>(&v.data)) j["v"] = *u;
  else if (const auto* i = std::get_if<int64_t>(&v.data)) j["v"] = *i;
  else if (const auto* d = std::get_if<double>(&v.data)) j["v"] = *d;
  else if (const auto* b = std::get_if<bool>(&v.data)) j["v"] = *b;
  else if (const auto* s = std::get_if<std::string>(&v.data)) j["v"] = *s;
  else {
    const auto& arr = std::get<GgufArray>(v.data);
    j["e"] = gguf_type_name(arr.element_type);
    j["v"] = nlohmann::json::array();
    for (const auto& item : arr.items) j["v"].push_back(value_json(item));
  }
  return j;
}

inline nlohmann::json metadata_json(const std::vector<std::pair<std::string, GgufValue>>& metadata) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metadata) j[k] = value_json(v);
  return j;
}

// Tensors as {"name", "type", "ne", "hex", "offset" (absolute)}.
inline nlohmann::json tensors_json(const GgufFile& f) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& t : f.tensors()) {
    j.push_back({{"name", t.name},
                 {"type", static_cast<uint32_t>(t.type)},
                 {"ne", t.dims},
                 {"hex", to_hex(f.tensor_data(t))},
                 {"offset", f.data_offset() + t.offset}});
  }
  return j;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string s = read_text(path);
  return {s.begin(), s.end()};
}

// Runs `python SCRIPT ARGS` (the script under tests/unit/format/); returns the exit status.
inline int run_python(const std::string& script, const std::string& args) {
  const std::string cmd = fmt::format("'{}' '{}/tests/unit/format/{}' {}", test::python(), test::source_dir(),
                                      script, args);
  return std::system(cmd.c_str());
}

// Metadata of every value type with edge values, flat arrays of every type, and nested arrays
// (including empty ones and three levels). Returns false if the writer refused any of it.
inline bool add_sample_metadata(GgufWriter& w) {
  using V = GgufValue;
  using T = GgufType;
  bool ok = true;
  ok &= w.set_string("general.architecture", "testarch").ok();
  ok &= w.set_u8("s.u8", 255).ok();
  ok &= w.set_i8("s.i8", -128).ok();
  ok &= w.set_u16("s.u16", 65535).ok();
  ok &= w.set_i16("s.i16", -32768).ok();
  ok &= w.set_u32("s.u32", 4294967295u).ok();
  ok &= w.set_i32("s.i32", -2147483647 - 1).ok();
  ok &= w.set_u64("s.u64", 18446744073709551615ull).ok();
  ok &= w.set_i64("s.i64", -9223372036854775807ll - 1).ok();
  ok &= w.set_f32("s.f32", 0.1f).ok();
  ok &= w.set_f32("s.f32_tiny", 1e-45f).ok();
  ok &= w.set_f64("s.f64", -1.0 / 3.0).ok();
  ok &= w.set_bool("s.true", true).ok();
  ok &= w.set_bool("s.false", false).ok();
  ok &= w.set_string("s.str", "héllo ▁ world\n<end_of_turn>").ok();
  ok &= w.set_string("s.empty", "").ok();
  ok &= w.set_array("a.u8", std::vector<uint8_t>{0, 7, 255}).ok();
  ok &= w.set_array("a.i8", std::vector<int8_t>{-128, 127}).ok();
  ok &= w.set_array("a.u16", std::vector<uint16_t>{1, 65535}).ok();
  ok &= w.set_array("a.i16", std::vector<int16_t>{-32768, 5}).ok();
  ok &= w.set_array("a.u32", std::vector<uint32_t>{0, 4294967295u}).ok();
  ok &= w.set_array("a.i32", std::vector<int32_t>{-1, 2, 3}).ok();
  ok &= w.set_array("a.u64", std::vector<uint64_t>{18446744073709551615ull, 0}).ok();
  ok &= w.set_array("a.i64", std::vector<int64_t>{-9223372036854775807ll - 1, 9223372036854775807ll}).ok();
  ok &= w.set_array("a.f32", std::vector<float>{1.5f, -0.3f, 3.4e38f}).ok();
  ok &= w.set_array("a.f64", std::vector<double>{1e-300, -2.5}).ok();
  ok &= w.set_array("a.bool", std::vector<bool>{true, false, true}).ok();
  ok &= w.set_array("a.str", std::vector<std::string>{"a", "", "▁b"}).ok();
  ok &= w.set_array("a.empty_i32", std::vector<int32_t>{}).ok();
  ok &= w.set("n.i32", V::array(T::kArray, {V::array_of(std::vector<int32_t>{1, 2}), V::array_of(std::vector<int32_t>{}),
                                            V::array_of(std::vector<int32_t>{-3})})).ok();
  // Inner arrays of one outer array may have different element types.
  ok &= w.set("n.mixed", V::array(T::kArray, {V::array_of(std::vector<std::string>{"x", "yz"}),
                                              V::array_of(std::vector<double>{0.5}),
                                              V::array_of(std::vector<uint64_t>{1ull << 60})})).ok();
  ok &= w.set("n.three", V::array(T::kArray, {V::array(T::kArray, {V::array_of(std::vector<uint16_t>{1, 2}),
                                                                  V::array_of(std::vector<uint16_t>{3})}),
                                              V::array(T::kArray, {})})).ok();
  ok &= w.set("n.empty", V::array(T::kArray, {})).ok();
  return ok;
}

// Little-endian byte builder for hand-made (often malformed) GGUF files.
class Bytes {
 public:
  template <typename T>
  Bytes& pod(T v) {
    const size_t at = data_.size();
    data_.resize(at + sizeof(T));
    std::memcpy(data_.data() + at, &v, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return pod(v); }
  Bytes& u32(uint32_t v) { return pod(v); }
  Bytes& u64(uint64_t v) { return pod(v); }
  Bytes& i64(int64_t v) { return pod(v); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    data_.insert(data_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return u32(kGgufMagic).u32(version).u64(n_tensors).u64(n_kv);
  }
  Bytes& zeros(size_t n) {
    data_.resize(data_.size() + n, 0);
    return *this;
  }
  Bytes& pad_to(size_t alignment) {
    data_.resize((data_.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
  }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  std::vector<uint8_t> data_;
};

}  // namespace specula::format::testing
