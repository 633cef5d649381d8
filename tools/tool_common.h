// Small helpers shared by the subcommands (argument conversions only; no model logic).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/flags.h"

namespace specula::tools {

// "2,105,3" or "2 105 3" -> ids. Errors name the bad item.
Result<std::vector<int32_t>> parse_token_list(const std::string& text);

// -t/--threads (default: all hardware threads).
Result<int> thread_count(const config::FlagValues& flags);

}  // namespace specula::tools
