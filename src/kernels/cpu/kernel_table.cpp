#include "kernels/cpu/kernel_table.h"

#include "base/check.h"
#include "kernels/cpu/cpu_features.h"

namespace specula::kernels::cpu {

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2 && f.fma && f.f16c;
    case Isa::kAvx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
  }
  return false;
}

const KernelTable& table_for(Isa isa) {
  SPECULA_CHECK(isa_supported(isa), "instruction set tier {} is not supported by this CPU", static_cast<int>(isa));
  switch (isa) {
    case Isa::kScalar: return scalar_table();
    case Isa::kAvx2: return avx2_table();
    case Isa::kAvx512: return avx512_table();
  }
  return scalar_table();
}

const KernelTable& best_table() {
  static const KernelTable& best = isa_supported(Isa::kAvx512) ? avx512_table()
                                   : isa_supported(Isa::kAvx2) ? avx2_table()
                                                               : scalar_table();
  return best;
}

}  // namespace specula::kernels::cpu
