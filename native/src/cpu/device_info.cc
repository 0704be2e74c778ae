// ISA baseline and CPU features; cuda_info() for builds without CUDA (the CUDA build provides its own
// in src/cuda/device.cu).
#include "spogw/device_info.h"

#ifndef SPOGW_ISA_BASELINE
#define SPOGW_ISA_BASELINE "unknown"
#endif

namespace spogw {

const char* isa_baseline() { return SPOGW_ISA_BASELINE; }

std::string cpu_features() {
  std::string out;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const auto add = [&](bool has, const char* name) {
    if (!has) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(__builtin_cpu_supports("sse4.2"), "sse4.2");
  add(__builtin_cpu_supports("popcnt"), "popcnt");
  add(__builtin_cpu_supports("avx"), "avx");
  add(__builtin_cpu_supports("avx2"), "avx2");
  add(__builtin_cpu_supports("fma"), "fma");
  add(__builtin_cpu_supports("avx512f"), "avx512f");
  add(__builtin_cpu_supports("avx512bw"), "avx512bw");
#endif
  return out;
}

#ifndef SPOGW_WITH_CUDA
CudaInfo cuda_info() {
  CudaInfo info;
  info.error = "this binary was built without CUDA (the CPU variant)";
  info.cublas = "unavailable: built without CUDA";
  return info;
}
#endif

}  // namespace spogw
