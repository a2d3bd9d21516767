// tensor/aligned_vector.h: std::vector whose storage starts on a cache line (64 bytes), for the host
// arrays that the SIMD kernels sweep outside tensors (the auction's columns and offsets). glibc
// aligns to 16 bytes only (a 16 KiB vector began 48 bytes into a line), and then every AVX-512 load
// straddles two lines: the auction's scan of 2,048 columns took 468 ns there against 313 ns from a
// line's start (AMD EPYC, 2026-12-07).
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace fm {

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace fm
