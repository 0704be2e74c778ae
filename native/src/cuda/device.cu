// CUDA runtime probe for info(). The runtime is linked statically (cudart_static), which loads the
// driver lazily: on a machine without a driver or device this reports why instead of failing to load.
#include <cuda_runtime.h>

#include "cublas_dyn.h"
#include "spogw/device_info.h"

namespace spogw {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  // The runtime is linked statically, so its version is known here; CUDA 11's cudaRuntimeGetVersion
  // reports 0 when no driver is loaded.
  info.runtimeVersion = CUDART_VERSION;
  cudaDriverGetVersion(&info.driverVersion);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.error = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    count = 0;
  } else if (count == 0) {
    info.error = "no CUDA device found";
  }
  info.deviceCount = count;
  if (count > 0) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      info.deviceName = prop.name;
      info.totalMemoryBytes = int64_t(prop.totalGlobalMem);
    }
  }
  std::string status;
  cuda::cublas(&status);
  info.cublas = status;
  return info;
}

}  // namespace spogw
