// linear.h: the linear + LoRA op and weight upload, as host code over gemm.h and ops.h.
#include "linear.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "half.h"
#include "ops.h"

namespace spogw::gpu {

const char* precision_name(Precision p) { return p == Precision::kF32 ? "f32" : "bf16"; }

DType device_type_for(InputRounding rounding, Precision p) {
  if (p == Precision::kF32) return DType::kF32;
  switch (rounding) {
    case InputRounding::kF16: return DType::kF16;
    case InputRounding::kBF16: return DType::kBF16;
    default: return DType::kF32;
  }
}

namespace {

// The block-quantized types (Q4_0 ... Q6_K; ggml_quants.h) are expanded once, at upload, to F32:
// dequantised on the host a slice of rows at a time. Where the CPU engine rounds a product's inputs to
// Q8_0 blocks (Q4_0, Q5_0) the device does too, and the two engines agree as on Q8_0 weights. F16 was
// tried and measured on the emulated Q4_0 engine: the Q8_0-rounded inputs lose bits in F16, and LoRA
// gradients moved by 2.4e-2 against the CPU engine (tolerance 2e-2). The cost is memory: 4 bytes per
// weight (a 7B model's layers in about 28 GB); keeping the blocks on the device with dequantising
// kernels, and rounding inputs to Q8_K (K-quants) and Q8_1 (Q4_1, Q5_1) as llama.cpp does, is left to
// do: for those types the device computes the dequantised weights' model (the float64 PyTorch
// reference's) without llama.cpp's input rounding.
DeviceWeight upload_dequantized(const FrozenWeight& W, int64_t rows, int64_t cols, const char* name) {
  if (W.rows != rows || W.cols != cols)
    throw Error(std::string(name) + ": the weight is [" + std::to_string(W.rows) + ", " + std::to_string(W.cols) + "], expected [" +
                std::to_string(rows) + ", " + std::to_string(cols) + "]");
  DeviceWeight d;
  d.type = DType::kF32;
  d.rounding = W.rounding == InputRounding::kQ8_0 ? InputRounding::kQ8_0 : InputRounding::kNone;
  d.rows = rows;
  d.cols = cols;
  const int64_t n = checked_mul(rows, cols, name);
  d.data.resize(checked_mul(n, dtype_bytes(d.type), name), name);
  const int64_t slice_rows = std::max<int64_t>(1, (int64_t(1) << 22) / cols);
  std::vector<float> values(size_t(std::min(rows, slice_rows) * cols));
  for (int64_t r0 = 0; r0 < rows; r0 += slice_rows) {
    const int64_t r1 = std::min(rows, r0 + slice_rows), m = (r1 - r0) * cols;
    W.dequantize_rows(r0, r1, values.data());
    copy_to_device(d.data.get() + r0 * cols * 4, values.data(), m * 4);
  }
  return d;
}

}  // namespace

DeviceWeight upload_weight(const FrozenWeight& W, int64_t rows, int64_t cols, Precision p, const char* name) {
  const int64_t n = checked_mul(rows, cols, name);
  if (W.values.empty() && !W.quant.blocks.empty()) return upload_dequantized(W, rows, cols, name);
  if (int64_t(W.values.size()) != n) throw Error(std::string(name) + ": expected " + std::to_string(n) + " values");
  DeviceWeight d;
  d.type = device_type_for(W.rounding, p);
  d.rounding = W.rounding;
  d.rows = rows;
  d.cols = cols;
  d.data.resize(checked_mul(n, dtype_bytes(d.type), name), name);
  if (d.type == DType::kF32) {
    d.data.upload(reinterpret_cast<const uint8_t*>(W.values.data()), n * 4);
    return d;
  }
  // Converted on the host in slices, so a 7B layer does not need a second full host copy.
  constexpr int64_t kSlice = int64_t(1) << 22;
  std::vector<uint16_t> half(size_t(std::min(n, kSlice)));
  for (int64_t i0 = 0; i0 < n; i0 += kSlice) {
    const int64_t m = std::min(kSlice, n - i0);
    for (int64_t i = 0; i < m; i++) {
      const float v = W.values[size_t(i0 + i)];
      half[size_t(i)] = d.type == DType::kF16 ? f32_to_f16(v) : f32_to_bf16(v);
    }
    copy_to_device(d.data.get() + i0 * 2, half.data(), m * 2);
  }
  return d;
}

DeviceWeight random_weight(int64_t rows, int64_t cols, DType type, float bound, uint64_t seed, const char* name) {
  DeviceWeight d;
  d.type = type;
  d.rounding = type == DType::kF16 ? InputRounding::kF16 : type == DType::kBF16 ? InputRounding::kBF16 : InputRounding::kNone;
  d.rows = rows;
  d.cols = cols;
  const int64_t n = checked_mul(rows, cols, name);
  d.data.resize(checked_mul(n, dtype_bytes(type), name), name);
  fill_uniform(d.data.get(), type, n, bound, seed);
  return d;
}

const void* product_input(const float* x, int64_t T, const DeviceWeight& W, LinearScratch& s) {
  const int64_t n = T * W.cols;
  const float* rounded = x;
  // Rounding to the product's own type is the conversion itself; anything else is rounded first.
  const bool conversion_rounds = (W.rounding == InputRounding::kF16 && W.type == DType::kF16) ||
                                 (W.rounding == InputRounding::kBF16 && W.type == DType::kBF16);
  if (W.rounding != InputRounding::kNone && !conversion_rounds) {
    float* out = s.rounded.reserve(n, "rounded matmul inputs");
    gpu::round_inputs(x, T, W.cols, W.rounding, out);
    rounded = out;
  }
  if (W.type == DType::kF32) return rounded;
  uint16_t* half = s.half.reserve(n, "F16/BF16 matmul inputs");
  convert(rounded, n, W.type, half);
  return half;
}

void linear_forward(const float* x, int64_t T, const DeviceWeight& W, const float* bias, const DeviceLora& lora, float* y, float* xa,
                    LinearScratch& s) {
  const int64_t n_in = W.cols, n_out = W.rows;
  const void* xin = product_input(x, T, W, s);
  gemm(false, true, T, n_out, n_in, 1.0f, xin, n_in, W.ptr(), n_in, W.type, 0.0f, y, n_out);
  // llama.cpp's build_lora_mm: y = W x + scale * (B (A x)), then the bias.
  if (lora.active()) {
    gemm(false, true, T, lora.r, n_in, 1.0f, x, n_in, lora.A, n_in, DType::kF32, 0.0f, xa, lora.r);
    gemm(false, true, T, n_out, lora.r, lora.scale, xa, lora.r, lora.B, lora.r, DType::kF32, 1.0f, y, n_out);
  }
  if (bias) add_bias(y, bias, T, n_out);
}

void linear_backward(const float* dy, const float* x, const float* xa, int64_t T, const DeviceWeight& W, const DeviceLora& lora, float* dx,
                     bool accumulate_dx, LinearScratch& s) {
  const int64_t n_in = W.cols, n_out = W.rows;
  if (W.type == DType::kF32) {
    gemm(false, false, T, n_in, n_out, 1.0f, dy, n_out, W.ptr(), n_in, DType::kF32, accumulate_dx ? 1.0f : 0.0f, dx, n_in);
  } else {
    uint16_t* half = s.half.reserve(T * n_out, "F16/BF16 gradients");
    float* inv = s.inv_scale.reserve(T, "gradient scales");
    float* product = s.product.reserve(T * n_in, "gradient product");
    convert_rows_scaled(dy, T, n_out, W.type, half, inv);
    gemm(false, false, T, n_in, n_out, 1.0f, half, n_out, W.ptr(), n_in, W.type, 0.0f, product, n_in);
    add_rows_scaled(product, inv, T, n_in, dx, accumulate_dx);
  }
  if (!lora.active()) return;
  float* dyB = s.dyB.reserve(T * lora.r, "LoRA gradient scratch");
  gemm(false, false, T, lora.r, n_out, 1.0f, dy, n_out, lora.B, lora.r, DType::kF32, 0.0f, dyB, lora.r);
  gemm(false, false, T, n_in, lora.r, lora.scale, dyB, lora.r, lora.A, n_in, DType::kF32, 1.0f, dx, n_in);
  if (lora.gB) gemm(true, false, n_out, lora.r, T, lora.scale, dy, n_out, xa, lora.r, DType::kF32, 1.0f, lora.gB, lora.r);
  if (lora.gA) gemm(true, false, lora.r, n_in, T, lora.scale, dyB, lora.r, x, n_in, DType::kF32, 1.0f, lora.gA, n_in);
}

}  // namespace spogw::gpu
