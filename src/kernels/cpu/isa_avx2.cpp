// AVX2 + FMA + F16C tier (256-bit float and integer kernels).
// Everything between push_options and pop_options is compiled for this ISA only and has internal linkage;
// callers reach it solely through avx2_table(), which kernel_table.cpp calls after checking the CPU.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernel_table.h"
#include "quant/blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace specula::kernels::cpu {
namespace {
#define SPECULA_VEC_BITS 256
#define SPECULA_VNNI 0
#include "kernels/cpu/simd_vec_impl.h"
#include "kernels/cpu/quant_dot_impl.h"
#undef SPECULA_VEC_BITS
#undef SPECULA_VNNI
}  // namespace
}  // namespace specula::kernels::cpu
#pragma GCC pop_options

namespace specula::kernels::cpu {
namespace {
#include "kernels/cpu/simd_table_fill.h"
}  // namespace

const KernelTable& avx2_table() {
  static const KernelTable table = make_simd_table(Isa::kAvx2, "avx2");
  return table;
}

}  // namespace specula::kernels::cpu
