#include "bandwidth.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/aligned.h"
#include "base/timer.h"

namespace specula::tools {

double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes) {
  const size_t n = bytes / sizeof(uint64_t);
  AlignedVector<uint64_t> buf(n);
  pool.parallel_for(n, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) buf[i] = i;  // fault the pages in on the threads that read them
  });
  std::vector<uint64_t> sinks(static_cast<size_t>(pool.n_threads()), 0);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    Timer t;
    pool.run([&](int i, int nt) {
      const size_t b = n * static_cast<size_t>(i) / static_cast<size_t>(nt);
      const size_t e = n * static_cast<size_t>(i + 1) / static_cast<size_t>(nt);
      uint64_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
      size_t j = b;
      for (; j + 4 <= e; j += 4) {
        acc0 ^= buf[j];
        acc1 ^= buf[j + 1];
        acc2 ^= buf[j + 2];
        acc3 ^= buf[j + 3];
      }
      for (; j < e; ++j) acc0 ^= buf[j];
      sinks[static_cast<size_t>(i)] += acc0 ^ acc1 ^ acc2 ^ acc3;
    });
    best = std::max(best, static_cast<double>(bytes) / t.elapsed_s() / 1e9);
  }
  volatile uint64_t keep = 0;
  for (auto s : sinks) keep = keep + s;
  (void)keep;
  return best;
}

}  // namespace specula::tools
