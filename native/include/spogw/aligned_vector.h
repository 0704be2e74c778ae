// A std::vector whose storage starts on a 64-byte boundary (a cache line, one AVX-512 register):
// vector loads from it never straddle two cache lines, which halves a kernel's load cost on Zen 4.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace spogw {

template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlign = 64;
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    const std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, bytes == 0 ? kAlign : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheAlignedAllocator<U>&) const { return false; }
};

using AlignedFloats = std::vector<float, CacheAlignedAllocator<float>>;

}  // namespace spogw
