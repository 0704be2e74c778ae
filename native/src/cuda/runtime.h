// The device runtime as the CUDA engine's host code sees it: device checks, memory, copies. Plain C++
// (no CUDA headers), implemented by runtime.cu over the CUDA runtime, and by emu/runtime_emu.cc over
// host memory for the emulated test build. Everything runs on the default stream; a call that reads
// results back (copy_to_host, synchronize) waits for the kernels before it.
//
// Errors are spogw::Error. Running out of device memory names what was being allocated, its size and
// the device's free memory, so the caller can add what to reduce.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "spogw/error.h"

namespace spogw::gpu {

// Device 0 is usable: a driver, a device and a working context; else `why` says what is missing.
bool device_usable(std::string* why);
// Throws "<what> on CUDA: no usable device (<why>)" unless device_usable.
void require_device(const std::string& what);
std::string device_name();

struct MemInfo {
  int64_t free_bytes = 0, total_bytes = 0;
};
MemInfo mem_info();

// Thrown for a failed device allocation; the engine turns it into a message naming what to reduce.
struct OutOfMemory : Error {
  int64_t requested;
  explicit OutOfMemory(const std::string& what, int64_t bytes) : Error(what), requested(bytes) {}
};

void* device_alloc(int64_t bytes, const char* what);
void device_free(void* p);
void copy_to_device(void* dst, const void* src, int64_t bytes);
void copy_to_host(void* dst, const void* src, int64_t bytes);
void copy_on_device(void* dst, const void* src, int64_t bytes);
void fill_zero(void* p, int64_t bytes);
// Waits for the device; a kernel's failure surfaces here as an Error naming `what`.
void synchronize(const char* what);

// Device bytes allocated through device_alloc and not freed (what the engine reports as its use),
// and the most that were ever allocated at once since reset_peak().
int64_t allocated_bytes();
int64_t peak_allocated_bytes();
void reset_peak();

// An owned device array of n values of T. Moves, never copies.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(int64_t n, const char* what) { resize(n, what); }
  ~Buffer() { device_free(ptr_); }
  Buffer(Buffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      device_free(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Holds at least n values afterwards; contents are lost when it grows.
  T* reserve(int64_t n, const char* what) {
    if (n > n_) resize(n, what);
    return ptr_;
  }
  void resize(int64_t n, const char* what) {
    device_free(ptr_);
    ptr_ = nullptr;
    n_ = 0;
    if (n > 0) ptr_ = static_cast<T*>(device_alloc(checked_mul(n, int64_t(sizeof(T)), what), what));
    n_ = n;
  }
  void clear() { resize(0, ""); }
  T* get() const { return ptr_; }
  int64_t size() const { return n_; }
  void upload(const T* host, int64_t n) { copy_to_device(ptr_, host, n * int64_t(sizeof(T))); }
  void download(T* host, int64_t n) const { copy_to_host(host, ptr_, n * int64_t(sizeof(T))); }
  void zero() { fill_zero(ptr_, n_ * int64_t(sizeof(T))); }

 private:
  T* ptr_ = nullptr;
  int64_t n_ = 0;
};

}  // namespace spogw::gpu
