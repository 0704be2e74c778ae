// The engine's computations on another device (the CUDA engine, src/cuda/engine.h): the same calls as
// Engine with the same semantics, on the same model and the same adapter.
//
// The adapter's host copy (Engine::lora(): what getLoraTensor/setLoraTensor read and write, what
// adapters are saved from and loaded into) stays the one the rest of the code sees; the device keeps
// its own copy of A, B, the gradients and the AdamW moments, on which backward and optimizer_step
// work. lora_replaced() uploads the host copy after it changed; lora_to_host() brings the device's
// back before the host copy is read (a no-op when nothing changed on the device since).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spogw/engine/adamw.h"
#include "spogw/engine/engine.h"

namespace spogw {

// precision "bf16" (the default): frozen weights as F16/BF16 operands of float32-accumulated products;
// "f32": float32 throughout (for checks against the CPU engine).
enum class DevicePrecision { kBF16, kF32 };

struct DeviceEngineOptions {
  DevicePrecision precision = DevicePrecision::kBF16;
  // Benchmarks at sizes whose weights are not worth a file (native/dev/gpu/bench_gpu.cc): non-zero
  // makes every frozen matrix uniform random BF16 on the device from this seed, and the host model's
  // matrices are not read (norms and biases still are).
  uint64_t random_weights_seed = 0;
};

// What info() and the engine's status report about its device.
struct DeviceEngineStatus {
  std::string device;        // "NVIDIA H100 80GB HBM3", or the emulation
  std::string products;      // gemm backend: "cuBLAS (libcublas.so.13)" or "own tiled GEMM (why)"
  std::string precision;     // "bf16" | "f32"
  int64_t weight_bytes = 0;  // frozen weights on the device
  int64_t allocated_bytes = 0, peak_bytes = 0;  // the engine's device memory now and at most
  int64_t free_bytes = 0, total_bytes = 0;      // the device's
};

class DeviceEngine {
 public:
  virtual ~DeviceEngine() = default;
  virtual void logits(const int32_t* tokens, int64_t T, float* out) = 0;
  virtual void token_logprobs(const int32_t* tokens, int64_t T, int64_t from, float temperature, float* out) = 0;
  // Every request's log-probs; requests with identical prompts are computed as one group.
  virtual void token_logprobs_batch(const std::vector<LogprobItem>& items, float temperature) = 0;
  virtual BackwardResult backward(const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg) = 0;
  virtual double optimizer_step(const AdamWConfig& cfg) = 0;
  virtual void zero_grad() = 0;
  virtual void lora_replaced() = 0;
  virtual void lora_to_host() = 0;
  virtual DeviceEngineStatus status() const = 0;
};

// The CUDA engine on device 0 over `host`'s model and adapter (which must outlive it). Throws
// spogw::Error naming why when the build has no CUDA or no device is usable, and for out of memory
// while uploading the weights (naming what to reduce).
std::unique_ptr<DeviceEngine> make_cuda_engine(Engine& host, const DeviceEngineOptions& options);

}  // namespace spogw
