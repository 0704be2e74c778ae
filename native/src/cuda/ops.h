// The engine's operations on the device, one forward/backward pair per op like engine/ops.h (whose CPU
// ops are their reference: native/tests/test_ops_gpu.cc checks each against the same float64
// references and against the CPU op on the same inputs). Every pointer is a device pointer, row-major
// float32 unless a DType says otherwise; shapes use the notation of engine/model.h. The ops run on
// the default stream and return before the device finishes.
#pragma once
#include <cstdint>

#include "gemm.h"
#include "spogw/engine/model.h"
#include "spogw/engine/ops.h"

namespace spogw::gpu {

// ---- embedding: out [T, d] = rows tokens[t] of table [V, d] (F32, F16 or BF16 values); tokens are
// checked by the caller. The backward scatter-adds dy into dtable [V, d] (float32).
void embedding_forward(const void* table, DType type, int64_t d, const int32_t* tokens, int64_t T, float* out);
void embedding_backward(const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable);

// ---- RMSNorm per row; rstd [T] saved for the backward.
void rmsnorm_forward(const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd);
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t T, int64_t d, float* dx);

// ---- RoPE in place on [T, heads * hd]; cos/sin [positions, half] are the CPU's table (rope_table)
// uploaded; row t is at position positions[t] (device, [T]; nullptr: t), below the table's length.
void rope_forward(float* x, int64_t T, int64_t heads, int64_t hd, const float* cos, const float* sin, int64_t half, RopeMode mode,
                  const int32_t* positions = nullptr);
void rope_backward(float* dx, int64_t T, int64_t heads, int64_t hd, const float* cos, const float* sin, int64_t half, RopeMode mode,
                   const int32_t* positions = nullptr);

// ---- causal GQA attention in tiles (flash attention, attention.cu): no [T, T] matrix is stored. The
// forward saves stats [2, H, T]: each row's largest scaled score m, then its sum of exp(s - m); the
// backward recomputes the probabilities from them, writes dq, dk, dv (overwritten) and uses `row_dot`
// [H, T] as scratch.
//
// Over a packed group (group_layout.h) the T rows are a tree: rows [0, prompt_rows) the prompt, and
// segment[i] (device, [T]) the first row of row i's response (0 for prompt rows). Query i attends to
// key j when j <= i and (j < prompt_rows or j >= segment[i]): a prompt row causally within the prompt,
// a response row to the prompt and its own earlier rows. segment == nullptr is plain causal attention.
struct AttnTree {
  const int32_t* segment = nullptr;
  int64_t prompt_rows = 0;
};
void attention_forward(const float* q, const float* k, const float* v, AttnShape s, float* out, float* stats, AttnTree tree = {});
void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out, const float* stats, AttnShape s,
                        float* dq, float* dk, float* dv, float* row_dot, AttnTree tree = {});
// Largest head size the attention kernels take.
constexpr int64_t kMaxAttentionHeadDim = 256;

// ---- SwiGLU elementwise.
void swiglu_forward(const float* gate, const float* up, int64_t n, float* out);
void swiglu_backward(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup);

// ---- matmul inputs: rounding as llama.cpp rounds them for a weight type (engine/model.h
// round_inputs, value for value), and conversion to F16/BF16 (round to nearest even).
void round_inputs(const float* x, int64_t rows, int64_t row, InputRounding mode, float* out);
void convert(const float* x, int64_t n, DType to, void* out);
// Row t of x [rows, cols] times a power of two chosen from the row's largest magnitude, converted to
// `to`; inv_scale[t] receives the inverse. F16 then keeps 11 significant bits for gradients far below
// its smallest normal number; a product's row t is unscaled by add_rows_scaled.
void convert_rows_scaled(const float* x, int64_t rows, int64_t cols, DType to, void* out, float* inv_scale);
// out[t, :] = (accumulate ? out[t, :] : 0) + tmp[t, :] * inv_scale[t].
void add_rows_scaled(const float* tmp, const float* inv_scale, int64_t rows, int64_t cols, float* out, bool accumulate);

// ---- elementwise helpers.
void add_inplace(float* y, const float* x, int64_t n);                // y += x
void add_bias(float* y, const float* bias, int64_t rows, int64_t cols);  // y[t, :] += bias

// out[i] = uniform in [-bound, bound] from a hash of (seed, i), stored as `type` (benchmark weights).
void fill_uniform(void* out, DType type, int64_t n, float bound, uint64_t seed);

// ---- AdamW over one flat parameter array (spogw/engine/adamw.h's formulas): sum of squared gradients
// in float64 (deterministic: per-block partial sums, added on the host in order), then the update,
// which also zeroes the gradients. bias1/bias2 are 1 - beta^step.
double grad_sq_sum(const float* grad, int64_t n);
void adamw_update(float* value, float* grad, float* m, float* v, int64_t n, float clip, float lr, float beta1, float beta2, float eps,
                  float weight_decay, float bias1, float bias2);

}  // namespace spogw::gpu
