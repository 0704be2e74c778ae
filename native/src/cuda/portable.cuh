// What every CUDA source of the engine includes: CUDA itself, or its CPU emulation (emu/emulator.h)
// when SPOGW_CUDA_EMULATION is defined (the test build), plus the few helpers the kernels share.
//
// Rules for kernel code, so that it runs the same in both: launch through gpu::launch (no <<< >>>),
// dynamic shared memory through SPOGW_DYNAMIC_SMEM, every thread of a block reaches every
// __syncthreads, blocks are whole warps, and no code relies on warp-synchronous execution without a
// barrier or shuffle. F16 and BF16 values are uint16_t bit patterns (cuBLAS reads them as __half and
// __nv_bfloat16: the same bits), converted by the functions below on host and device alike.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "half.h"
#include "runtime.h"

#ifdef SPOGW_CUDA_EMULATION
#include "emu/emulator.h"
#define SPOGW_DYNAMIC_SMEM(T) reinterpret_cast<T*>(::spogw::gpu::emu::dynamic_shared())
#else
#include <cuda_runtime.h>

#include <string>
#define SPOGW_DYNAMIC_SMEM(T) reinterpret_cast<T*>(spogw_dynamic_smem)
extern __shared__ __align__(16) unsigned char spogw_dynamic_smem[];
#endif

namespace spogw::gpu {

#ifndef SPOGW_CUDA_EMULATION
inline void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clears a launch error; a sticky one (a kernel fault) stays and says so
    throw Error(std::string("CUDA ") + what + ": " + cudaGetErrorString(err));
  }
}
#endif

// Launches kernel k on the engine's stream (the default stream) and checks the launch. Kernels that
// ask for more than 48 KiB of dynamic shared memory get it raised first (sm_70 and later allow it).
template <class... P, class... A>
void launch(const char* name, void (*k)(P...), dim3 grid, dim3 block, size_t smem, A... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;  // nothing to do (an empty range)
#ifdef SPOGW_CUDA_EMULATION
  emu::run(name, grid, block, smem, [&] { k(P(args)...); });
#else
  if (smem > 48 * 1024) cuda_check(cudaFuncSetAttribute(reinterpret_cast<const void*>(k), cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)), name);
  k<<<grid, block, smem, 0>>>(P(args)...);
  cuda_check(cudaGetLastError(), name);
#endif
}

inline unsigned blocks_for(int64_t n, int64_t per_block) { return unsigned((n + per_block - 1) / per_block); }

// ---- reductions (blockDim.x a multiple of 32, at most 1024) -----------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum (kMax = false) or max over the block; every thread gets the result. `shared` holds 32 floats.
template <bool kMax>
__device__ __forceinline__ float block_reduce(float v, float* shared) {
  v = kMax ? warp_max(v) : warp_sum(v);
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  __syncthreads();  // `shared` may still be read from a previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x) / 32 ? shared[lane] : (kMax ? -INFINITY : 0.0f);
  return kMax ? warp_max(v) : warp_sum(v);
}

__device__ __forceinline__ double warp_sum_double(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block sum in float64 (rmsnorm's sums, as the CPU op sums in double); every thread gets it.
__device__ __forceinline__ double block_sum_double(double v, double* shared) {
  v = warp_sum_double(v);
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x) / 32 ? shared[lane] : 0.0;
  return warp_sum_double(v);
}

}  // namespace spogw::gpu
