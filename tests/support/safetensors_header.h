// Writing safetensors files in tests: the 8-byte little-endian header length, then the JSON header padded with
// spaces to a multiple of 8 (as the Python safetensors writer does); the caller writes the tensor bytes after it.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace specula::test {

inline void write_safetensors_header(std::ofstream& f, const nlohmann::json& header) {
  std::string h = header.dump();
  while (h.size() % 8 != 0) h += ' ';
  const uint64_t n = h.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(h.data(), static_cast<std::streamsize>(h.size()));
}

}  // namespace specula::test
