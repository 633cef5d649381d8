// A streaming read of a buffer split over a ThreadPool: the memory-bandwidth yardstick shared by
// membw_bench and matvec_bench (header-only; benchmarks only).
#pragma once

#include <immintrin.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>

#include "base/thread_pool.h"
#include "kernels/cpu/cpu_features.h"

namespace specula::bench {

__attribute__((target("avx2"))) inline uint64_t read_avx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i x = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  uint64_t r = static_cast<uint64_t>(_mm256_extract_epi64(x, 0) ^ _mm256_extract_epi64(x, 3));
  for (; i < n; ++i) r += p[i];
  return r;
}

inline uint64_t read_scalar(const uint8_t* p, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    acc ^= v;
  }
  for (; i < n; ++i) acc += p[i];
  return acc;
}

// Reads bytes [0, n) once, thread i of the pool taking the i-th contiguous share (as matmul splits rows).
// Returns a value that depends on every byte (so the reads cannot be optimized away).
inline uint64_t parallel_read(ThreadPool& pool, const uint8_t* p, size_t n) {
  const bool avx2 = kernels::cpu::cpu_features().avx2;
  uint64_t sink[64] = {};
  pool.run([&](int i, int nt) {
    const size_t b = n * static_cast<size_t>(i) / static_cast<size_t>(nt);
    const size_t e = n * static_cast<size_t>(i + 1) / static_cast<size_t>(nt);
    sink[i % 64] = avx2 ? read_avx2(p + b, e - b) : read_scalar(p + b, e - b);
  });
  uint64_t r = 0;
  for (uint64_t s : sink) r ^= s;
  return r;
}

// CPU seconds used by the whole process (all threads). On a virtual machine whose host takes cores away
// (steal time), CPU time divided by the thread count approximates the wall time of an undisturbed run;
// the pool's waiting threads spin, so they keep accruing CPU time while they wait for the others.
inline double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace specula::bench
