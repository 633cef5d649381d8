// Small helpers shared by the subcommands (argument conversions only; no model logic).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/flags.h"
#include "kernels/ops.h"

namespace specula::tools {

// "2,105,3" or "2 105 3" -> ids. Errors name the bad item.
Result<std::vector<int32_t>> parse_token_list(const std::string& text);

// -t/--threads (default: all hardware threads).
Result<int> thread_count(const config::FlagValues& flags);

// --activations int8|int8x2|f32 (kernels::cpu::ActPrecision): adds the flag / reads it / reads it and applies it
// process-wide with kernels::cpu::set_act_precision (tools call that before any work starts).
void add_activations_flag(config::FlagParser& parser);
Result<kernels::cpu::ActPrecision> activations(const config::FlagValues& flags, const char* flag = "--activations");
Status apply_activations(const config::FlagValues& flags);

}  // namespace specula::tools
