// The -ctk/-ctv flag values of the subcommands, parsed and validated in one place.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "kv/kv_type.h"

namespace specula::kv {

struct CacheTypes {
  KvType k = KvType::kF32;
  KvType v = KvType::kF32;
};

// Help text of -ctk/-ctv and their default (f32: the exact reference path; llama.cpp's default is f16).
inline constexpr const char* kCacheTypeHelp =
    "KV cache type: f32, f16, bf16, q8_0, q4_0, turbo2, turbo3, turbo4 (turbo: head dims that are powers of two >= 32; "
    "q8_0/q4_0: multiples of 32)";
inline constexpr const char* kCacheTypeDefault = "f32";

// Unset values keep the default. Errors name the flag and list the valid types.
Result<CacheTypes> parse_cache_types(const std::optional<std::string>& k, const std::optional<std::string>& v);

}  // namespace specula::kv
