// AVX-512 tier: 512-bit float kernels, VNNI (vpdpbusd) for the int8 products.
// Everything between push_options and pop_options is compiled for this ISA only and has internal linkage;
// callers reach it solely through avx512_table(), which kernel_table.cpp calls after checking the CPU.
// GCC 12's AVX-512 intrinsic headers trip -Wuninitialized on their own _mm512_undefined_* temporaries
// when inlined under a target pragma; the warning is in the system header's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/kernel_table.h"
#include "quant/blocks.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
namespace specula::kernels::cpu {
namespace {
#define SPECULA_VEC_BITS 512
#define SPECULA_VNNI 1


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

const KernelTable& avx512_table() {
  static const KernelTable table = make_simd_table(Isa::kAvx512, "avx512");
  return table;
}

}  // namespace specula::kernels::cpu

#pragma GCC diagnostic pop
