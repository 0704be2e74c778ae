// The portable kernels' hot loops are also compiled for AVX2 + FMA and picked at load time, so that a
// binary built for an older baseline (the x86-64-v2 prebuild) does not call libm's fmaf per element.
// Same operations, same order: only the instructions differ. (Private to the engine's kernels.)
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define SPOGW_AVX2_CLONE __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// GCC < 12 cannot dispatch on an ISA level (the prebuilds are built with Debian 11's g++ 10 for their
// glibc floor): clone for FMA instead, which brings AVX's 8-lane float vectors and inlines std::fma.
#define SPOGW_AVX2_CLONE __attribute__((target_clones("fma", "default")))
#else
#define SPOGW_AVX2_CLONE
#endif
// Helpers the clones inline (a call would run the baseline build of the helper).
#define SPOGW_INLINE inline __attribute__((always_inline))
