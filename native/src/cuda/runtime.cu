// runtime.h over the CUDA runtime (device 0, the default stream).
#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "portable.cuh"
#include "runtime.h"

namespace spogw::gpu {

namespace {

std::mutex g_mutex;
std::unordered_map<void*, int64_t> g_sizes;
int64_t g_allocated = 0, g_peak = 0;

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

}  // namespace

bool device_usable(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaSuccess && count == 0) {
    *why = "no CUDA device found";
    return false;
  }
  if (err == cudaSuccess) err = cudaFree(nullptr);  // creates the context: fails on a broken driver
  if (err != cudaSuccess) {
    cudaGetLastError();
    *why = cudaGetErrorString(err);
    return false;
  }
  return true;
}

void require_device(const std::string& what) {
  std::string why;
  if (!device_usable(&why)) throw Error(what + " on CUDA: no usable device (" + why + ")");
}

std::string device_name() {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    return "unknown device";
  }
  return prop.name;
}

MemInfo mem_info() {
  size_t free_b = 0, total_b = 0;
  cuda_check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  return MemInfo{int64_t(free_b), int64_t(total_b)};
}

void* device_alloc(int64_t bytes, const char* what) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, size_t(bytes));
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw OutOfMemory(std::string("CUDA out of memory: ") + what + " needs " + mib(bytes) + ", the device has " + mib(int64_t(free_b)) +
                          " free of " + mib(int64_t(total_b)),
                      bytes);
  }
  cuda_check(err, what);
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sizes[p] = bytes;
  g_allocated += bytes;
  g_peak = std::max(g_peak, g_allocated);
  return p;
}

void device_free(void* p) {
  if (p == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_sizes.find(p);
    if (it != g_sizes.end()) {
      g_allocated -= it->second;
      g_sizes.erase(it);
    }
  }
  cudaFree(p);  // an error here (a failed kernel before it) is reported by the next checked call
}

void copy_to_device(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) cuda_check(cudaMemcpy(dst, src, size_t(bytes), cudaMemcpyHostToDevice), "copy to the device");
}
void copy_to_host(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) cuda_check(cudaMemcpy(dst, src, size_t(bytes), cudaMemcpyDeviceToHost), "copy from the device");
}
void copy_on_device(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) cuda_check(cudaMemcpy(dst, src, size_t(bytes), cudaMemcpyDeviceToDevice), "copy on the device");
}
void fill_zero(void* p, int64_t bytes) {
  if (bytes > 0) cuda_check(cudaMemset(p, 0, size_t(bytes)), "cudaMemset");
}
void synchronize(const char* what) { cuda_check(cudaDeviceSynchronize(), what); }

int64_t allocated_bytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_allocated;
}
int64_t peak_allocated_bytes() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_peak;
}
void reset_peak() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_peak = g_allocated;
}

}  // namespace spogw::gpu
