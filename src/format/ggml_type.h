// The ggml tensor types as stored in GGUF files (ids are the file format's; never renumber).
// Block geometry lives here because the GGUF reader must validate tensor byte sizes; the block
// structs and codecs are in quant/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace specula::format {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;   // as llama.cpp prints it: "f32", "q4_K", ...
  uint32_t block_size;     // values per block
  uint32_t block_bytes;    // bytes per block
};

// Traits of a known type id, or nullopt for ids this build does not know.
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t type_id);
const GgmlTypeTraits& ggml_traits(GgmlType type);  // for known enumerators only
std::string_view ggml_type_name(GgmlType type);
// Parses a type name case-insensitively ("q4_k", "Q8_0", "bf16").
std::optional<GgmlType> parse_ggml_type(std::string_view name);

// Bytes of a row of n values; n must be a multiple of the block size (checked by callers).
inline size_t ggml_row_bytes(GgmlType type, size_t n) {
  const auto& t = ggml_traits(type);
  return n / t.block_size * t.block_bytes;
}

}  // namespace specula::format
