// Frozen weights on the device and the linear + LoRA op (engine/ops.h linear_forward/backward's
// device twin): y = round(x) W^T + s (x A^T) B^T + b, and its backward into dx, gA, gB.
//
// How frozen weights are held: each is uploaded once, expanded from the CPU engine's values (which its
// GGUF reader dequantised, bit for bit as ggml does) to a type that holds every value exactly, so both
// precision modes multiply the model's own numbers:
//   precision f32:  float32 for every weight type (products in float32: matches the CPU engine to its
//                   summation order; for checks);
//   precision bf16: F16 weights stay F16 and BF16 stay BF16, products on the tensor cores with float32
//                   accumulation; F32 and Q8_0 weights become float32. A Q8_0 value (int8 times an F16
//                   scale) needs up to 19 significant bits: rounded to F16 (11), the tiny qwen2 of
//                   tests/test_engine_gpu.cc moved its probabilities by 1.6e-2 and its LoRA gradients by
//                   39% (the next layer's Q8_0 input quantisation amplifies the difference), far over
//                   the 2e-3 and 2e-2 the BF16 mode must meet. A dequantising kernel (int8 blocks on the
//                   device, F16 tiles per product) is the way to keep Q8_0 small; until then a Q8_0 7B
//                   takes 28 GB here: use its F16 or BF16 GGUF (15 GB) on a 24 GB card.
// Why expanded and not kept in blocks for F16/BF16: every product is one cuBLAS GEMM on the tensor
// cores, and the expansion is the CPU engine's own dequantisation (already checked against ggml).
//
// The forward rounds x as llama.cpp does for the weight's GGUF type (model.h InputRounding), like
// the CPU op, then converts it to the product's type. The backward's dy is scaled per row by a power of
// two before it becomes F16 (gradients sit far below F16's smallest normal value) and unscaled after
// the product. LoRA matrices and their products are float32.
#pragma once
#include <cstdint>

#include "gemm.h"
#include "runtime.h"
#include "spogw/engine/model.h"

namespace spogw::gpu {

enum class Precision { kBF16, kF32 };
const char* precision_name(Precision p);

struct DeviceWeight {
  DType type = DType::kF32;
  InputRounding rounding = InputRounding::kNone;
  int64_t rows = 0, cols = 0;  // [n_out, n_in]
  Buffer<uint8_t> data;
  const void* ptr() const { return data.get(); }
  int64_t bytes() const { return data.size(); }
  bool empty() const { return rows == 0; }
};

// The type a weight of this GGUF rounding takes on the device (see above).
DType device_type_for(InputRounding rounding, Precision p);
// Uploads W [rows, cols] (its float values) in the device type for `p`. `name` appears in errors.
DeviceWeight upload_weight(const FrozenWeight& W, int64_t rows, int64_t cols, Precision p, const char* name);
// A weight of `type` with uniform random values in [-bound, bound] made on the device (benchmarks at
// sizes whose weights are not worth writing to a file).
DeviceWeight random_weight(int64_t rows, int64_t cols, DType type, float bound, uint64_t seed, const char* name);

struct DeviceLora {
  const float* A = nullptr;  // [r, n_in]
  const float* B = nullptr;  // [n_out, r]
  float* gA = nullptr;       // accumulated (may be null: no gradient wanted)
  float* gB = nullptr;
  int64_t r = 0;
  float scale = 0.0f;
  bool active() const { return A != nullptr; }
};

// Working memory of the linear op, grown as needed and reused across calls.
struct LinearScratch {
  Buffer<float> rounded;    // x rounded for the weight type [T, n_in]
  Buffer<uint16_t> half;    // x or dy converted to F16/BF16
  Buffer<float> product;    // the typed product before unscaling [T, n_in]
  Buffer<float> inv_scale;  // per row of dy
  Buffer<float> dyB;        // dy B [T, r]
};

// y [T, n_out] overwritten; xa = x A^T [T, r] written when the LoRA is active.
void linear_forward(const float* x, int64_t T, const DeviceWeight& W, const float* bias, const DeviceLora& lora, float* y, float* xa,
                    LinearScratch& s);
// dx [T, n_in] overwritten (added to with accumulate_dx); lora.gA/gB accumulate.
void linear_backward(const float* dy, const float* x, const float* xa, int64_t T, const DeviceWeight& W, const DeviceLora& lora, float* dx,
                     bool accumulate_dx, LinearScratch& s);

// x rounded for W's type and converted to its device type: what the product reads. Returns a device
// pointer into `s` (or x itself when nothing changes). Also used for the output layer's inputs.
const void* product_input(const float* x, int64_t T, const DeviceWeight& W, LinearScratch& s);

}  // namespace spogw::gpu
