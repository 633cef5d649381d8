// The instruction sets this CPU and OS support, probed once (the only process-wide state in kernels/cpu:
// immutable after the first call, thread-safe through static initialization).
#pragma once

namespace specula::kernels::cpu {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
};

const CpuFeatures& cpu_features();

}  // namespace specula::kernels::cpu
