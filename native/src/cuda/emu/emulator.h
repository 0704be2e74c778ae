// A CPU emulation of CUDA's execution model, so that the CUDA kernels run (slowly) on machines without a
// GPU: the tests of the CUDA ops and of the CUDA engine run in every `npm run test:native`, and a GPU
// session only confirms what the emulation already checked.
//
// What is emulated: a launch runs its blocks one after another, in a shuffled order; a block's threads
// are fibers (ucontext) on the calling OS thread, each running the kernel body until it reaches a
// barrier (__syncthreads, __syncwarp, a warp shuffle), in an order shuffled at every barrier, so a
// missing barrier shows as results that change between runs. __shared__ variables are static (one
// block at a time). Device memory is host memory with poisoned contents (NaN bytes) and guard bytes on
// both sides that are checked after every launch. What is not: cuBLAS (the own GEMM kernels run
// instead), warp-synchronous code without an explicit barrier, timing, and the GPU's float arithmetic
// details (fused multiply-adds the GPU compiler forms, rsqrtf's approximation): the emulated results
// agree with a GPU's within float rounding, not bit for bit.
//
// Kernels are written in plain CUDA (the names below stand in for CUDA's built-ins when
// SPOGW_CUDA_EMULATION is defined; portable.cuh includes this header). A divergent barrier (a thread
// that exits, or waits at another barrier, while others wait at __syncthreads) is an error here, as
// compute-sanitizer's synccheck reports it on a GPU.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

namespace spogw::gpu::emu {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The running thread's coordinates (valid inside a kernel body only).
const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
unsigned char* dynamic_shared();

void sync_block();
void sync_warp();
// Exchanges 8-byte values across the warp: returns the value of lane src_lane(lane).
uint64_t shuffle(uint64_t value, int src_lane);
int lane_id();

// Runs `body` as a kernel: every thread of every block. Throws spogw::Error for a divergent barrier
// and for writes outside device allocations (guard bytes), naming `kernel`.
void run(const char* kernel, dim3 grid, dim3 block, size_t dynamic_smem, const std::function<void()>& body);

// Device memory: host memory with poisoned contents and checked guard bytes.
void* alloc(size_t bytes);
void release(void* p);
// Throws when a guard byte of any live allocation changed (checked after every launch).
void check_guards(const char* kernel);
int64_t live_bytes();

template <class T>
T shfl_value(T v, int src_lane) {
  static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shuffle(bits, src_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace spogw::gpu::emu

// ---- CUDA's names, for kernel code compiled as plain C++ ------------------------------------------
using dim3 = spogw::gpu::emu::dim3;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define threadIdx (::spogw::gpu::emu::thread_idx())
#define blockIdx (::spogw::gpu::emu::block_idx())
#define blockDim (::spogw::gpu::emu::block_dim())
#define gridDim (::spogw::gpu::emu::grid_dim())

inline void __syncthreads() { spogw::gpu::emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { spogw::gpu::emu::sync_warp(); }
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask, int width = 32) {
  const int lane = spogw::gpu::emu::lane_id();
  return spogw::gpu::emu::shfl_value(v, (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1)));
}
template <class T>
T __shfl_sync(unsigned, T v, int src_lane, int width = 32) {
  const int lane = spogw::gpu::emu::lane_id();
  return spogw::gpu::emu::shfl_value(v, (lane & ~(width - 1)) | (src_lane & (width - 1)));
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = spogw::gpu::emu::lane_id();
  const int in_group = lane & (width - 1);
  const int src = in_group + int(delta) < width ? lane + int(delta) : lane;
  return spogw::gpu::emu::shfl_value(v, src);
}
// Fibers never interleave inside one of these, so plain read-modify-writes are atomic here.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
template <class T>
T __ldg(const T* p) { return *p; }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
