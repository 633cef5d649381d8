// Memory read bandwidth of this machine: the "speed of light" the matvec kernels are compared against
// (docs/performance.md). Streams a buffer with 256-bit loads from 1 or 2 threads (each thread reads a
// contiguous share). Sizes: 64 MiB (may be served by a large last-level cache) and 2 GiB (far larger than
// any LLC, i.e. DRAM bandwidth).
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"

namespace {

using specula::ThreadPool;

__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i x = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(x, 0) ^ _mm256_extract_epi64(x, 3));
}

uint64_t read_scalar(const uint8_t* p, size_t n) {
  uint64_t acc = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    acc ^= v;
  }
  return acc;
}

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

void BM_ReadBandwidth(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  const int threads = static_cast<int>(state.range(1));
  std::unique_ptr<uint8_t, FreeDeleter> buf(static_cast<uint8_t*>(std::aligned_alloc(4096, bytes)));
  for (size_t i = 0; i < bytes; i += 4096) std::memset(buf.get() + i, static_cast<int>(i >> 12), 4096);
  const bool avx2 = specula::kernels::cpu::cpu_features().avx2;
  ThreadPool pool(threads);
  for (auto _ : state) {
    uint64_t sink[8] = {};
    pool.run([&](int i, int n) {
      const size_t share = bytes / static_cast<size_t>(n) / 128 * 128;
      const uint8_t* p = buf.get() + share * static_cast<size_t>(i);
      sink[i] = avx2 ? read_avx2(p, share) : read_scalar(p, share);
    });
    benchmark::DoNotOptimize(sink);
  }
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
