// Shared helpers for the tokenizer tests: reference vocab files (decompressed once into the build
// folder), llama.cpp's known-answer files, and running a shell command for its output.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "format/gguf_reader.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace specula::tokenizer::testing {

inline std::string vocab_dir() { return test::shared_dir() + "/assets/llamacpp-vocab"; }

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// stdout of a shell command; empty on failure (the caller's expectations then fail).
inline std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

// Decompresses shared/assets/llamacpp-vocab/NAME.xz into the build folder once (atomic rename, so parallel
// test processes are safe) and returns the path of the plain file.
inline std::string decompressed(const std::string& xz_path, const std::string& name, uintmax_t expected_size) {
  const auto dir = std::filesystem::path(test::binary_dir()) / "test-data";
  const auto path = dir / name;
  std::error_code ec;
  if (std::filesystem::file_size(path, ec) == expected_size && !ec) return path.string();
  std::filesystem::create_directories(dir);
  const auto tmp = dir / (name + ".tmp" + std::to_string(::getpid()));
  const std::string cmd = "xz -dkc '" + xz_path + "' > '" + tmp.string() + "'";
  if (std::system(cmd.c_str()) != 0) return "";
  std::filesystem::rename(tmp, path, ec);
  return ec ? "" : path.string();
}

inline std::string gemma4_vocab_path() {
  return decompressed(vocab_dir() + "/ggml-vocab-gemma-4.gguf.xz", "ggml-vocab-gemma-4.gguf", 15776467);
}

inline Result<Tokenizer> load_tokenizer(const std::string& path) {
  auto file = format::GgufFile::open(path);
  if (!file.ok()) return file.error();
  return Tokenizer::from_gguf(file.value());
}

// One tokenizer per process and vocab file (loading the Gemma 4 vocab takes a noticeable fraction of a second).
inline const Tokenizer& cached_tokenizer(const std::string& path) {
  static std::map<std::string, Tokenizer> cache;  // node-based: references stay valid as it grows
  if (const auto it = cache.find(path); it != cache.end()) return it->second;
  auto tok = load_tokenizer(path);
  if (!tok.ok()) {
    ADD_FAILURE() << tok.error().message();
    std::abort();
  }
  return cache.emplace(path, std::move(tok).value()).first->second;
}

inline const Tokenizer& gemma4() { return cached_tokenizer(gemma4_vocab_path()); }

// llama.cpp's known-answer format: texts joined by "\n__ggml_vocab_test__\n" (the file may end with the
// separator), and one line of space-separated ids per text.
inline std::vector<std::string> read_known_inputs(const std::string& path) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  const std::string all = read_all(path);
  std::vector<std::string> texts;
  size_t pos = 0;
  while (true) {
    const size_t hit = all.find(kSep, pos);
    if (hit == std::string::npos) {
      if (pos < all.size()) texts.push_back(all.substr(pos));
      break;
    }
    texts.push_back(all.substr(pos, hit - pos));
    pos = hit + kSep.size();
  }
  return texts;
}

inline std::vector<std::vector<TokenId>> read_known_outputs(const std::string& path) {
  std::vector<std::vector<TokenId>> out;
  std::istringstream lines(read_all(path));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ids(line);
    std::vector<TokenId> row;
    long long id = 0;
    while (ids >> id) row.push_back(static_cast<TokenId>(id));
    out.push_back(row);
  }
  return out;
}

}  // namespace specula::tokenizer::testing
