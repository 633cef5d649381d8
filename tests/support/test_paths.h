// Paths the tests need, fixed at configure time (no environment lookups in tests either).
#pragma once

#include <string>

namespace specula::test {

std::string shared_dir();   // ../shared: assets and fixtures
std::string source_dir();   // the repository root
std::string binary_dir();   // the build folder
std::string python();       // the project venv's python
std::string temp_dir();     // a fresh folder under the build folder, unique per call

}  // namespace specula::test
