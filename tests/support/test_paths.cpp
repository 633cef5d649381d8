#include "test_paths.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

namespace specula::test {

std::string shared_dir() { return SPECULA_SHARED_DIR; }
std::string source_dir() { return SPECULA_SOURCE_DIR; }
std::string binary_dir() { return SPECULA_BINARY_DIR; }
std::string python() { return SPECULA_PYTHON; }

std::string temp_dir() {
  static std::atomic<int> counter{0};
  const auto dir = std::filesystem::path(SPECULA_BINARY_DIR) / "test-tmp" /
                   (std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace specula::test
