#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace specula::detail {

void check_failed(const char* file, int line, const char* expr, const std::string& message) {
  std::fprintf(stderr, "specula: internal check failed at %s:%d: %s %s\n", file, line, expr, message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace specula::detail
