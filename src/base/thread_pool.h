// A fixed pool of worker threads for CPU kernels. Passed explicitly by reference (no global pool).
// run(fn) calls fn(thread_index, n_threads) once on every thread (the caller is thread 0) and returns
// when all calls have finished. Workers spin briefly between jobs (decode issues thousands of small jobs
// per token) and then sleep on a condition variable.
// Thread-safety: run() must not be called concurrently from two threads on the same pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace specula {

class ThreadPool {
 public:
  // n_threads >= 1 includes the calling thread.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  template <typename Fn>
  void run(Fn&& fn) {
    if (n_threads_ == 1) {
      fn(0, 1);
      return;
    }
    auto trampoline = [](void* ctx, int i, int n) { (*static_cast<std::remove_reference_t<Fn>*>(ctx))(i, n); };
    dispatch(trampoline, &fn);
  }

  // Splits [0, n) into contiguous ranges, one per thread; fn(begin, end) for each non-empty range.
  template <typename Fn>
  void parallel_for(size_t n, Fn&& fn) {
    run([&](int i, int nt) {
      const size_t begin = n * static_cast<size_t>(i) / static_cast<size_t>(nt);
      const size_t end = n * static_cast<size_t>(i + 1) / static_cast<size_t>(nt);
      if (begin < end) fn(begin, end);
    });
  }

 private:
  using Trampoline = void (*)(void*, int, int);
  void dispatch(Trampoline fn, void* ctx);
  void worker_loop(int index);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  Trampoline job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
};

// The number of hardware threads, at least 1.
int hardware_threads();

}  // namespace specula
