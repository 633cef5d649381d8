// Memory read bandwidth of this machine: the "speed of light" the matvec kernels are compared against
// (docs/performance.md). Streams a buffer with 256-bit loads from 1 or 2 threads (each thread reads a
// contiguous share). Sizes: 64 MiB (may be served by a large last-level cache) and 2 GiB (far larger than
// any LLC, i.e. DRAM bandwidth).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "base/thread_pool.h"
#include "read_bandwidth.h"

namespace {

using specula::ThreadPool;

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

void BM_ReadBandwidth(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  const int threads = static_cast<int>(state.range(1));
  std::unique_ptr<uint8_t, FreeDeleter> buf(static_cast<uint8_t*>(std::aligned_alloc(4096, bytes)));
  for (size_t i = 0; i < bytes; i += 4096) std::memset(buf.get() + i, static_cast<int>(i >> 12), 4096);
  ThreadPool pool(threads);
  const double c0 = specula::bench::process_cpu_seconds();
  for (auto _ : state) benchmark::DoNotOptimize(specula::bench::parallel_read(pool, buf.get(), bytes));
  // Bytes per (process CPU seconds / threads): the undisturbed-machine estimate (see read_bandwidth.h).
  state.counters["cpu_GB/s"] = static_cast<double>(bytes) * static_cast<double>(state.iterations()) /
                               ((specula::bench::process_cpu_seconds() - c0) / threads) / 1e9;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
  state.SetLabel(std::to_string(state.range(0)) + " MiB, " + std::to_string(threads) + " thread(s)");
}

BENCHMARK(BM_ReadBandwidth)
    ->ArgNames({"MiB", "threads"})
    ->Args({64, 1})
    ->Args({64, 2})
    ->Args({2048, 1})
    ->Args({2048, 2})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
