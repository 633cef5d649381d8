// Always-on invariant checks for programmer errors. Never use these for anything a user controls:
// user input goes through Result<T> (see result.h).
#pragma once

#include <fmt/format.h>

namespace specula::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& message);
}  // namespace specula::detail

#define SPECULA_CHECK(cond, ...)                                                                 \
  do {                                                                                           \
    if (!(cond)) [[unlikely]]                                                                    \
      ::specula::detail::check_failed(__FILE__, __LINE__, #cond, ::fmt::format("" __VA_ARGS__)); \
  } while (0)

#ifdef NDEBUG
#define SPECULA_DCHECK(cond, ...) \
  do {                            \
  } while (0)
#else
#define SPECULA_DCHECK(cond, ...) SPECULA_CHECK(cond, __VA_ARGS__)
#endif
