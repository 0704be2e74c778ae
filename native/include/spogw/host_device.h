// SPOGW_HD marks a function that compiles for the host and, under nvcc, for the device too: the row
// math (grpo_row_math.h) and the F16/BF16 conversions (src/cuda/half.h) are the same lines on both.
#pragma once

#if defined(__CUDACC__)
#define SPOGW_HD __host__ __device__ __forceinline__
#else
#define SPOGW_HD inline
#endif
