// Cache-line / SIMD aligned storage for activations and scratch buffers.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace specula {

inline constexpr size_t kSimdAlignment = 64;

template <typename T, size_t Align = kSimdAlignment>
struct AlignedAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = AlignedAllocator<U, Align>;
  };
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U, Align>&) {}  // NOLINT: allocator conversion

  T* allocate(size_t n) {
    const size_t bytes = ((n * sizeof(T) + Align - 1) / Align) * Align;
    void* p = std::aligned_alloc(Align, bytes == 0 ? Align : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const AlignedAllocator<U, Align>&) const {
    return true;
  }
};

template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace specula
