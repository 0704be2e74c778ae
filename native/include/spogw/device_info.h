// What the build and the machine offer: ISA baseline, BLAS, CUDA runtime and devices. Filled in by the
// CPU code, and by src/cuda/ when the CUDA variant is built.
#pragma once
#include <cstdint>
#include <string>

namespace spogw {

struct CudaInfo {
  bool compiled = false;      // the addon was built with CUDA code
  int runtimeVersion = 0;     // e.g. 13000 for CUDA 13.0; 0 when not compiled
  int driverVersion = 0;      // 0 when no driver is installed
  int deviceCount = 0;        // usable devices; 0 with a reason in `error`
  std::string deviceName;     // first device, when there is one
  int64_t totalMemoryBytes = 0;  // its memory; 0 without a device
  std::string error;          // why there is no device, empty when deviceCount > 0
  std::string cublas;         // "libcublas.so.13" when loadable at run time, else "unavailable: <reason>"
};

CudaInfo cuda_info();

// Compile-time ISA baseline of this binary ("x86-64-v2", "native", ...).
const char* isa_baseline();
// Run-time CPU features relevant to the kernels, e.g. "sse4.2 avx2 fma avx512f".
std::string cpu_features();

}  // namespace spogw
