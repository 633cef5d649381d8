#include "tool_common.h"

#include <cerrno>
#include <cstdlib>

#include "base/thread_pool.h"

namespace specula::tools {

Result<std::vector<int32_t>> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  std::string item;
  auto flush = [&]() -> Status {
    if (item.empty()) return ok_status();
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE || v < 0 || v > INT32_MAX) {
      return make_error(ErrorCode::kInvalidArgument, "'{}' is not a token id", item);
    }
    ids.push_back(static_cast<int32_t>(v));
    item.clear();
    return ok_status();
  };
  for (char ch : text) {
    if (ch == ',' || ch == ' ' || ch == '\n' || ch == '\t') {
      SPECULA_RETURN_IF_ERROR(flush());
    } else {
      item += ch;
    }
  }
  SPECULA_RETURN_IF_ERROR(flush());
  return ids;
}

Result<int> thread_count(const config::FlagValues& flags) {
  SPECULA_TRY(const auto t, flags.get_int("--threads", 1, 1024));
  return t ? static_cast<int>(*t) : hardware_threads();
}

}  // namespace specula::tools
