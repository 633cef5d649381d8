#include "tool_common.h"

#include <cerrno>
#include <cstdlib>

#include "base/thread_pool.h"
#include "kernels/ops.h"

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

void add_activations_flag(config::FlagParser& parser) {
  parser.add({{"--activations"}, config::FlagKind::kValue, kernels::cpu::kActPrecisionHelp, "int8", "MODE"});
}

Result<kernels::cpu::ActPrecision> activations(const config::FlagValues& flags, const char* flag) {
  const std::string name = flags.get(flag).value_or("int8");
  const auto p = kernels::cpu::parse_act_precision(name);
  if (!p) return make_error(ErrorCode::kInvalidArgument, "{} must be int8, int8x2 or f32, got '{}'", flag, name);
  return *p;
}

Status apply_activations(const config::FlagValues& flags) {
  SPECULA_TRY(const auto p, activations(flags));
  kernels::cpu::set_act_precision(p);
  return ok_status();
}

Result<int> thread_count(const config::FlagValues& flags) {
  SPECULA_TRY(const auto t, flags.get_int("--threads", 1, 1024));
  return t ? static_cast<int>(*t) : hardware_threads();
}

}  // namespace specula::tools
