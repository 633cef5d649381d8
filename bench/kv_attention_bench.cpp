// Decode attention over the KV pool (kv::KvPool::attention): one query row at the end of a context of N cached
// positions, one KV head of dim 256 (Gemma 3 270M / Gemma 4 sliding heads) shared by 8 query heads, for each
// K/V type pair, 1 and 2 threads. Reports the cache bytes a call reads (the packed entries of every position plus
// the recent window's f16 copies) per second, and the same bytes read by a plain streaming read in the same
// moment (pct_of_read): decode attention is bandwidth-bound at long contexts, so this is its roofline.
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kv/kv_pool.h"
#include "read_bandwidth.h"

namespace {

using specula::ThreadPool;
namespace kv = specula::kv;

constexpr int kHeadDim = 256;
constexpr int kQueryHeads = 8;

std::unique_ptr<kv::KvPool> filled_pool(ThreadPool& pool, kv::KvType k, kv::KvType v, int n_ctx) {
  kv::KvPoolOptions o;
  o.type_k = k;
  o.type_v = v;
  o.n_ctx = n_ctx;
  o.max_batch = 512;
  auto p = kv::KvPool::create({{0, 1, kHeadDim, 0}}, o).value();
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> keys(512 * kHeadDim), values(512 * kHeadDim);
  for (int first = 0; first < n_ctx; first += 512) {
    std::vector<kv::KvRowRef> rows;
    for (int i = first; i < std::min(n_ctx, first + 512); ++i) rows.push_back({0, i});
    for (float& f : keys) f = dist(rng);
    for (float& f : values) f = dist(rng);
    if (!p->begin_batch(rows).ok()) std::abort();
    p->write(pool, 0, rows, keys.data(), values.data());
  }
  return p;
}

void BM_DecodeAttention(benchmark::State& state, kv::KvType k, kv::KvType v) {
  const int n_ctx = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  ThreadPool pool(threads);
  auto p = filled_pool(pool, k, v, n_ctx);
  std::vector<float> q(kQueryHeads * kHeadDim, 0.01f), out(q.size());
  const std::vector<kv::AttnQuery> rows = {{0, 0, n_ctx - 1}};
  // Bytes one call reads: every packed entry (K and V) plus the window's f16 copies.
  const int window = std::min(n_ctx, p->recent_entries());
  const size_t bytes = p->bytes_per_token(0) * static_cast<size_t>(n_ctx - window) +
                       static_cast<size_t>(window) * (window > 0 ? 4 * kHeadDim : p->bytes_per_token(0));
  std::vector<uint8_t> yardstick(bytes, 1);
  double attn_s = 0.0, read_s = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    p->attention(pool, 0, kQueryHeads, rows, q.data(), 0.0625f, out.data());
    benchmark::DoNotOptimize(out.data());
    const double dt = specula::bench::seconds_since(t0);
    state.SetIterationTime(dt);
    attn_s += dt;
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(specula::bench::parallel_read(pool, yardstick.data(), yardstick.size()));
    read_s += specula::bench::seconds_since(t1);
  }
  const double total = static_cast<double>(bytes) * static_cast<double>(state.iterations()) / 1e9;
  state.counters["GB/s"] = total / attn_s;
  state.counters["read_GB/s"] = total / read_s;
  state.counters["pct_of_read"] = 100.0 * read_s / attn_s;
  state.counters["cache_KiB"] = static_cast<double>(bytes) / 1024.0;
}

void register_all() {
  const std::pair<kv::KvType, kv::KvType> pairs[] = {
      {kv::KvType::kF16, kv::KvType::kF16},       {kv::KvType::kBF16, kv::KvType::kBF16},
      {kv::KvType::kQ8_0, kv::KvType::kQ8_0},     {kv::KvType::kQ4_0, kv::KvType::kQ4_0},
      {kv::KvType::kTurbo4, kv::KvType::kTurbo4}, {kv::KvType::kTurbo3, kv::KvType::kTurbo3},
      {kv::KvType::kTurbo2, kv::KvType::kTurbo2}, {kv::KvType::kQ8_0, kv::KvType::kTurbo4}};
  for (auto [k, v] : pairs) {
    const std::string name = std::string("DecodeAttention/") + kv::kv_type_name(k) + "-" + kv::kv_type_name(v);
    benchmark::RegisterBenchmark(name.c_str(), BM_DecodeAttention, k, v)
        ->ArgsProduct({{4096, 32768}, {1, 2}})
        ->ArgNames({"ctx", "threads"})
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
