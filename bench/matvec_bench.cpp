// Matrix-vector (decode) throughput of kernels::cpu::matmul on weight matrices far larger than L2, in
// GB/s of weight bytes read per call, for the weight types of real GGUF files, 1 and 2 threads, and each
// ISA tier the CPU has. Compare with membw_bench (docs/performance.md). 1 MiB matrices stay in L2 and show
// the kernels' compute ceiling; 64 MiB and 1 GiB ones stream from memory. Also a 64-token batch (the decode
// batch maximum) to show the compute side.
//
// Weights: 64 distinct rows quantized from random normal values, repeated to the target size (the kernels'
// speed does not depend on the values; quantizing 1 GiB with the scalar reference codecs would take minutes).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/aligned.h"
#include "base/thread_pool.h"
#include "format/ggml_type.h"
#include "kernels/cpu/kernel_table.h"
#include "quant/quant.h"
#include "read_bandwidth.h"

namespace {

using specula::AlignedVector;
using specula::ThreadPool;
using specula::format::GgmlType;
namespace cpu = specula::kernels::cpu;

constexpr int64_t kCols = 4096;

struct Weights {
  AlignedVector<uint8_t> bytes;
  specula::kernels::MatrixView view;
};

Weights make_weights(GgmlType type, size_t target_bytes) {
  const size_t row_bytes = specula::format::ggml_row_bytes(type, kCols);
  const int64_t rows = static_cast<int64_t>(target_bytes / row_bytes);
  Weights w;
  w.bytes.resize(row_bytes * static_cast<size_t>(rows));
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(kCols);
  constexpr int64_t kDistinct = 64;
  for (int64_t r = 0; r < kDistinct && r < rows; ++r) {
    for (float& f : v) f = dist(rng);
    specula::quant::quantize_row(type, v.data(), w.bytes.data() + row_bytes * static_cast<size_t>(r), kCols);
  }
  for (int64_t r = kDistinct; r < rows; ++r) {
    std::memcpy(w.bytes.data() + row_bytes * static_cast<size_t>(r),
                w.bytes.data() + row_bytes * static_cast<size_t>(r % kDistinct), row_bytes);
  }
  w.view = {type, w.bytes.data(), rows, kCols, row_bytes};
  return w;
}

void run_matmul(benchmark::State& state, GgmlType type, cpu::Isa isa, size_t mib, int threads, int64_t n_tokens) {
  const Weights w = make_weights(type, mib << 20);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * kCols));
  for (float& f : x) f = dist(rng);
  std::vector<float> y(static_cast<size_t>(n_tokens * w.view.rows));
  ThreadPool pool(threads);
  const cpu::KernelTable& k = cpu::table_for(isa);
  // Each iteration times the matmul (the reported time) and then a plain streaming read of the same bytes
  // with the same thread split: the machine is shared, so the bandwidth yardstick is measured in the same
  // moment as the kernel and "pct_of_read" compares like with like.
  // Both are timed in wall time and in process CPU time (see read_bandwidth.h); the cpu_* counters are the
  // better estimate of an undisturbed machine when the host steals time from this VM.
  double read_s = 0.0, matmul_s = 0.0, read_cpu = 0.0, matmul_cpu = 0.0;
  for (auto _ : state) {
    const double c0 = specula::bench::process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    cpu::matmul_with(k, pool, w.view, x.data(), n_tokens, y.data());
    benchmark::DoNotOptimize(y.data());
    const double dt = specula::bench::seconds_since(t0);
    const double c1 = specula::bench::process_cpu_seconds();
    state.SetIterationTime(dt);
    matmul_s += dt;
    matmul_cpu += c1 - c0;
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(specula::bench::parallel_read(pool, w.bytes.data(), w.bytes.size()));
    read_s += specula::bench::seconds_since(t1);
    read_cpu += specula::bench::process_cpu_seconds() - c1;
  }
  const double weight_bytes = static_cast<double>(w.bytes.size());
  const double total = weight_bytes * static_cast<double>(state.iterations()) / 1e9;
  state.counters["read_GB/s"] = total / read_s;
  state.counters["pct_of_read"] = 100.0 * read_s / matmul_s;
  state.counters["cpu_GB/s"] = total / (matmul_cpu / threads);
  state.counters["cpu_read_GB/s"] = total / (read_cpu / threads);
  state.counters["cpu_pct_of_read"] = 100.0 * read_cpu / matmul_cpu;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * static_cast<int64_t>(w.bytes.size())));
  state.counters["weight_MiB"] = weight_bytes / (1 << 20);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(w.view.rows * kCols * n_tokens),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void register_all() {
  const GgmlType types[] = {GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ8_0, GgmlType::kQ4_0,
                            GgmlType::kQ5_K, GgmlType::kF16,  GgmlType::kBF16};
  std::vector<cpu::Isa> tiers;
  for (cpu::Isa isa : {cpu::Isa::kAvx512, cpu::Isa::kAvx2}) {
    if (cpu::isa_supported(isa)) tiers.push_back(isa);
  }
  if (tiers.empty()) tiers.push_back(cpu::Isa::kScalar);
  for (cpu::Isa isa : tiers) {
    const std::string tier = cpu::table_for(isa).name;
    for (GgmlType type : types) {
      for (size_t mib : {size_t{1}, size_t{64}, size_t{1024}}) {
        for (int threads : {1, 2}) {
          const std::string name = "matvec/" + std::string(specula::format::ggml_type_name(type)) + "/" + tier + "/" +
                                   std::to_string(mib) + "MiB/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_matmul(s, type, isa, mib, threads, 1); })
              ->UseManualTime()
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
    for (GgmlType type : {GgmlType::kQ4_K, GgmlType::kQ8_0, GgmlType::kF16}) {
      const std::string name = "matmul64/" + std::string(specula::format::ggml_type_name(type)) + "/" + tier +
                               "/64MiB/threads:2";
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_matmul(s, type, isa, 64, 2, 64); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
