// ops.h: the element-wise and row-wise operations (attention is attention.cu). Where the CPU op's
// float operations decide bits that matter for parity with llama.cpp (RoPE's fused multiply-adds, the
// input roundings), the kernels perform the same operations (__fmul_rn keeps a product from being fused).
#include <algorithm>
#include <cstdio>
#include <vector>

#include "ops.h"
#include "portable.cuh"

namespace spogw::gpu {

namespace {

constexpr int kThreads = 256;

dim3 elementwise_grid(int64_t n) { return dim3(unsigned(std::max<int64_t>(1, std::min<int64_t>(blocks_for(n, kThreads), 4096)))); }

#define SPOGW_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

__device__ __forceinline__ float load_typed(const void* p, int64_t i, DType t) {
  switch (t) {
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

// ---- embedding

__global__ void embedding_forward_kernel(const void* table, DType type, int64_t d, const int32_t* tokens, float* out) {
  const int64_t t = blockIdx.x;
  const int64_t row = int64_t(tokens[t]) * d;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) out[t * d + i] = load_typed(table, row + i, type);
}

// One thread per column: a repeated token's rows are added by the same thread, in token order.
__global__ void embedding_backward_kernel(const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable) {
  SPOGW_GRID_STRIDE(i, d) {
    for (int64_t t = 0; t < T; t++) dtable[int64_t(tokens[t]) * d + i] += dy[t * d + i];
  }
}

// ---- RMSNorm: one block per row.

__global__ void rmsnorm_forward_kernel(const float* x, const float* w, int64_t d, float eps, float* y, float* rstd) {
  __shared__ double shared[32];
  const int64_t t = blockIdx.x;
  const float* xr = x + t * d;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) ss += double(__fmul_rn(xr[i], xr[i]));  // squares rounded to float, as ggml
  ss = block_sum_double(ss, shared);
  const float rs = 1.0f / sqrtf(float(ss / double(d)) + eps);
  if (threadIdx.x == 0) rstd[t] = rs;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) y[t * d + i] = xr[i] * rs * w[i];
}

// dx = rstd (g - n mean(g n)) with g = dy w, n = x rstd.
__global__ void rmsnorm_backward_kernel(const float* dy, const float* x, const float* w, const float* rstd, int64_t d, float* dx) {
  __shared__ double shared[32];
  const int64_t t = blockIdx.x;
  const float* dyr = dy + t * d;
  const float* xr = x + t * d;
  const float rs = rstd[t];
  double dot = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) dot += double(dyr[i]) * w[i] * xr[i] * rs;
  dot = block_sum_double(dot, shared);
  const float mean = float(dot / double(d));
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) dx[t * d + i] = rs * (dyr[i] * w[i] - xr[i] * rs * mean);
}

// ---- RoPE: one thread per rotated pair. The CPU op's operations: a' = fma(a, c, -(b s)), b' = fma(a, s, b c).

__global__ void rope_kernel(float* x, int64_t T, int64_t heads, int64_t hd, const float* cos, const float* sin, int64_t half, bool neox,
                            float sign, const int32_t* positions) {
  SPOGW_GRID_STRIDE(j, T * heads * half) {
    const int64_t i = j % half, h = (j / half) % heads, t = j / (half * heads);
    const int64_t p = positions ? int64_t(positions[t]) : t;
    float* v = x + (t * heads + h) * hd;
    const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float c = cos[p * half + i], sn = sign * sin[p * half + i];
    const float x0 = v[a], x1 = v[b];
    v[a] = fmaf(x0, c, -__fmul_rn(x1, sn));
    v[b] = fmaf(x0, sn, __fmul_rn(x1, c));
  }
}

// ---- SwiGLU

__global__ void swiglu_forward_kernel(const float* gate, const float* up, int64_t n, float* out) {
  SPOGW_GRID_STRIDE(i, n) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void swiglu_backward_kernel(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  SPOGW_GRID_STRIDE(i, n) {
    const float g = gate[i];
    const float sg = 1.0f / (1.0f + expf(-g));
    dup[i] = dout[i] * g * sg;
    dgate[i] = dout[i] * up[i] * sg * (1.0f + g * (1.0f - sg));
  }
}

// ---- input rounding and conversion

__global__ void round_half_kernel(const float* x, int64_t n, bool bf16, float* out) {
  SPOGW_GRID_STRIDE(i, n) { out[i] = bf16 ? bf16_to_f32(f32_to_bf16(x[i])) : f16_to_f32(f32_to_f16(x[i])); }
}

// ggml's quantize_row_q8_0 then back to float: per block of 32, d = F16(amax / 127), q = round(x 127 / amax).
// One warp per block; lane j holds value j.
__global__ void round_q8_0_kernel(const float* x, int64_t blocks, float* out) {
  const int lane = int(threadIdx.x) % 32;
  const int64_t warps = int64_t(blockDim.x / 32) * gridDim.x;
  for (int64_t b = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; b < blocks; b += warps) {
    const float v = x[b * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const float d = f16_to_f32(f32_to_f16(amax / 127.0f));
    out[b * 32 + lane] = float(__float2int_rn(v * id)) * d;
  }
}

__global__ void convert_kernel(const float* x, int64_t n, bool bf16, uint16_t* out) {
  SPOGW_GRID_STRIDE(i, n) { out[i] = bf16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]); }
}

// One block per row: the largest magnitude m = f 2^e (f in [0.5, 1)) is scaled to below 2^14.
__global__ void convert_rows_scaled_kernel(const float* x, int64_t cols, bool bf16, uint16_t* out, float* inv_scale) {
  __shared__ float shared[32];
  const int64_t t = blockIdx.x;
  const float* xr = x + t * cols;
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) amax = fmaxf(amax, fabsf(xr[i]));
  amax = block_reduce<true>(amax, shared);
  int k = 0;  // zero or non-finite rows stay unscaled
  if (amax > 0.0f && amax <= 3.0e38f) {
    int e = 0;
    frexpf(amax, &e);
    k = 14 - e < -126 ? -126 : (14 - e > 126 ? 126 : 14 - e);
  }
  const float scale = ldexpf(1.0f, k);
  if (threadIdx.x == 0) inv_scale[t] = ldexpf(1.0f, -k);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = xr[i] * scale;
    out[t * cols + i] = bf16 ? f32_to_bf16(v) : f32_to_f16(v);
  }
}

__global__ void add_rows_scaled_kernel(const float* tmp, const float* inv_scale, int64_t rows, int64_t cols, float* out, bool accumulate) {
  SPOGW_GRID_STRIDE(i, rows * cols) {
    const float v = tmp[i] * inv_scale[i / cols];
    out[i] = accumulate ? out[i] + v : v;
  }
}

__global__ void add_inplace_kernel(float* y, const float* x, int64_t n) {
  SPOGW_GRID_STRIDE(i, n) { y[i] += x[i]; }
}

__global__ void add_bias_kernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  SPOGW_GRID_STRIDE(i, rows * cols) { y[i] += bias[i % cols]; }
}

// splitmix64 of (seed, i): independent uniform values without generator state.
__global__ void fill_uniform_kernel(void* out, DType type, int64_t n, float bound, uint64_t seed) {
  SPOGW_GRID_STRIDE(i, n) {
    uint64_t z = seed + uint64_t(i) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float u = float(double(z >> 11) * (1.0 / 9007199254740992.0));  // [0, 1)
    const float v = bound * (2.0f * u - 1.0f);
    if (type == DType::kF32) static_cast<float*>(out)[i] = v;
    else static_cast<uint16_t*>(out)[i] = type == DType::kF16 ? f32_to_f16(v) : f32_to_bf16(v);
  }
}

// ---- AdamW

__global__ void grad_sq_sum_kernel(const float* grad, int64_t n, double* partial) {
  __shared__ double shared[32];
  double s = 0.0;
  SPOGW_GRID_STRIDE(i, n) { s += double(grad[i]) * grad[i]; }
  s = block_sum_double(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void adamw_kernel(float* value, float* grad, float* m, float* v, int64_t n, float clip, float lr, float beta1, float beta2,
                             float eps, float weight_decay, float bias1, float bias2) {
  SPOGW_GRID_STRIDE(i, n) {
    const float g = grad[i] * clip;
    m[i] = beta1 * m[i] + (1.0f - beta1) * g;
    v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
    const float m_hat = m[i] / bias1, v_hat = v[i] / bias2;
    value[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + weight_decay * value[i]);
    grad[i] = 0.0f;
  }
}

}  // namespace

void embedding_forward(const void* table, DType type, int64_t d, const int32_t* tokens, int64_t T, float* out) {
  launch("embedding_forward", embedding_forward_kernel, dim3(unsigned(T)), dim3(kThreads), 0, table, type, d, tokens, out);
}

void embedding_backward(const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable) {
  launch("embedding_backward", embedding_backward_kernel, elementwise_grid(d), dim3(kThreads), 0, dy, tokens, T, d, dtable);
}

void rmsnorm_forward(const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd) {
  launch("rmsnorm_forward", rmsnorm_forward_kernel, dim3(unsigned(T)), dim3(kThreads), 0, x, w, d, eps, y, rstd);
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t T, int64_t d, float* dx) {
  launch("rmsnorm_backward", rmsnorm_backward_kernel, dim3(unsigned(T)), dim3(kThreads), 0, dy, x, w, rstd, d, dx);
}

void rope_forward(float* x, int64_t T, int64_t heads, int64_t hd, const float* cos, const float* sin, int64_t half, RopeMode mode,
                  const int32_t* positions) {
  launch("rope_forward", rope_kernel, elementwise_grid(T * heads * half), dim3(kThreads), 0, x, T, heads, hd, cos, sin, half,
         mode == RopeMode::kNeox, 1.0f, positions);
}

void rope_backward(float* dx, int64_t T, int64_t heads, int64_t hd, const float* cos, const float* sin, int64_t half, RopeMode mode,
                   const int32_t* positions) {
  launch("rope_backward", rope_kernel, elementwise_grid(T * heads * half), dim3(kThreads), 0, dx, T, heads, hd, cos, sin, half,
         mode == RopeMode::kNeox, -1.0f, positions);
}

void swiglu_forward(const float* gate, const float* up, int64_t n, float* out) {
  launch("swiglu_forward", swiglu_forward_kernel, elementwise_grid(n), dim3(kThreads), 0, gate, up, n, out);
}

void swiglu_backward(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup) {
  launch("swiglu_backward", swiglu_backward_kernel, elementwise_grid(n), dim3(kThreads), 0, dout, gate, up, n, dgate, dup);
}

void round_inputs(const float* x, int64_t rows, int64_t row, InputRounding mode, float* out) {
  const int64_t n = rows * row;
  switch (mode) {
    case InputRounding::kNone:
      if (out != x) copy_on_device(out, x, n * 4);
      return;
    case InputRounding::kF16:
    case InputRounding::kBF16:
      launch("round_inputs", round_half_kernel, elementwise_grid(n), dim3(kThreads), 0, x, n, mode == InputRounding::kBF16, out);
      return;
    case InputRounding::kQ8_0:
      if (row % 32 != 0) throw Error("round_inputs: Q8_0 rows must be whole blocks of 32 (got " + std::to_string(row) + ")");
      // kThreads / 32 warps per block, one 32-value block per warp and step
      launch("round_inputs_q8_0", round_q8_0_kernel, dim3(unsigned(std::max<int64_t>(1, std::min<int64_t>(blocks_for(n / 32, kThreads / 32), 4096)))),
             dim3(kThreads), 0, x, n / 32, out);
      return;
  }
  throw Error("round_inputs: unknown rounding mode");
}

void convert(const float* x, int64_t n, DType to, void* out) {
  if (to == DType::kF32) {
    copy_on_device(out, x, n * 4);
    return;
  }
  launch("convert", convert_kernel, elementwise_grid(n), dim3(kThreads), 0, x, n, to == DType::kBF16, static_cast<uint16_t*>(out));
}

void convert_rows_scaled(const float* x, int64_t rows, int64_t cols, DType to, void* out, float* inv_scale) {
  if (to == DType::kF32) throw Error("convert_rows_scaled: the target must be F16 or BF16");
  launch("convert_rows_scaled", convert_rows_scaled_kernel, dim3(unsigned(rows)), dim3(kThreads), 0, x, cols, to == DType::kBF16,
         static_cast<uint16_t*>(out), inv_scale);
}

void add_rows_scaled(const float* tmp, const float* inv_scale, int64_t rows, int64_t cols, float* out, bool accumulate) {
  launch("add_rows_scaled", add_rows_scaled_kernel, elementwise_grid(rows * cols), dim3(kThreads), 0, tmp, inv_scale, rows, cols, out,
         accumulate);
}

void add_inplace(float* y, const float* x, int64_t n) {
  launch("add_inplace", add_inplace_kernel, elementwise_grid(n), dim3(kThreads), 0, y, x, n);
}

void add_bias(float* y, const float* bias, int64_t rows, int64_t cols) {
  launch("add_bias", add_bias_kernel, elementwise_grid(rows * cols), dim3(kThreads), 0, y, bias, rows, cols);
}

void fill_uniform(void* out, DType type, int64_t n, float bound, uint64_t seed) {
  launch("fill_uniform", fill_uniform_kernel, elementwise_grid(n), dim3(kThreads), 0, out, type, n, bound, seed);
}

double grad_sq_sum(const float* grad, int64_t n) {
  if (n <= 0) return 0.0;
  const dim3 grid = elementwise_grid(n);
  Buffer<double> partial(grid.x, "gradient norm partial sums");
  launch("grad_sq_sum", grad_sq_sum_kernel, grid, dim3(kThreads), 0, grad, n, partial.get());
  std::vector<double> host(grid.x);
  partial.download(host.data(), grid.x);
  double s = 0.0;
  for (double p : host) s += p;
  return s;
}

void adamw_update(float* value, float* grad, float* m, float* v, int64_t n, float clip, float lr, float beta1, float beta2, float eps,
                  float weight_decay, float bias1, float bias2) {
  launch("adamw_update", adamw_kernel, elementwise_grid(n), dim3(kThreads), 0, value, grad, m, v, n, clip, lr, beta1, beta2, eps,
         weight_decay, bias1, bias2);
}

}  // namespace spogw::gpu
