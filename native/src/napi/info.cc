// info(): what this binary is and what it found on the machine. setThreads(n): the thread count for
// BLAS and our parallel loops.
#include <thread>

#include "convert.h"
#include "register.h"
#include <string>

#include "spogw/device_info.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/gemm.h"
#include "spogw/threads.h"

#ifndef SPOGW_VARIANT
#define SPOGW_VARIANT "cpu"
#endif
#ifndef SPOGW_BUILD_SYSTEM
#define SPOGW_BUILD_SYSTEM "unknown"
#endif

namespace spogw::napi {

namespace {

// Bumped whenever the JS-visible surface of the addon changes; the loader refuses other versions.
constexpr int kAbiVersion = 5;  // 5: NativeEngine.tokenLogprobsBatch

// How the engine's forward relates to llama.cpp's on this CPU (ggml_numerics.h).
std::string engine_numerics() {
  if (!ggml::exact_llama_cpp_numerics())
    return "OpenBLAS products: within float32 rounding of llama.cpp (no reproduced ggml build for this CPU, or SPOGW_KERNELS=blas)";
  switch (ggml::build()) {
    case ggml::Build::kAvx512Bf16: return "llama.cpp's CPU arithmetic, bit for bit (ggml AVX-512 build with BF16 dot pairs)";
    case ggml::Build::kAvx512: return "llama.cpp's CPU arithmetic, bit for bit (ggml AVX-512 build)";
    case ggml::Build::kAvx2: return "llama.cpp's CPU arithmetic, bit for bit (ggml AVX2 build)";
    default: return "portable kernels";
  }
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("abiVersion", kAbiVersion);
  out.Set("variant", SPOGW_VARIANT);
  out.Set("buildSystem", SPOGW_BUILD_SYSTEM);
  out.Set("isaBaseline", isa_baseline());
  out.Set("cpuFeatures", cpu_features());
  out.Set("blas", blas_name());
  out.Set("blasCore", blas_core());
  out.Set("engineNumerics", engine_numerics());
  out.Set("threads", threads());
  out.Set("hardwareThreads", hardware_threads());
  const CudaInfo cuda = cuda_info();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", cuda.compiled);
  c.Set("runtimeVersion", cuda.runtimeVersion);
  c.Set("driverVersion", cuda.driverVersion);
  c.Set("deviceCount", cuda.deviceCount);
  c.Set("deviceName", cuda.deviceName);
  c.Set("totalMemoryBytes", double(cuda.totalMemoryBytes));
  c.Set("error", cuda.error);
  c.Set("cublas", cuda.cublas);
  out.Set("cuda", c);
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  set_threads(int(int_arg(info, 0, "threads", 1, 1 << 16)));
  return Napi::Number::New(info.Env(), threads());
}

}  // namespace

void RegisterInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
}

}  // namespace spogw::napi
