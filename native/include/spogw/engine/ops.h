// Transformer layers as forward/backward pairs on row-major float32 buffers (llm.c style). Each
// backward takes the forward's saved inputs and writes (overwrites) the input gradients; parameter
// gradients (LoRA, the embedding table) accumulate. Shapes use the notation of model.h; rows are
// tokens. native/tests/ops/*.h check each pair against float64 references and finite differences.
#pragma once
#include <cstdint>
#include <vector>

#include "spogw/engine/model.h"

namespace spogw {

// ---- Token embedding: row t of out [T, d] is row tokens[t] of the table [V, d]; the caller has
// checked every token is in [0, V) (Engine::check_tokens).
void embedding_forward(const float* table, int64_t d, const int32_t* tokens, int64_t T, float* out);
// dtable [V, d] += dy [T, d] scattered to the tokens' rows (a repeated token receives every one of its
// rows). Training never calls it: the table is frozen. It exists because the CUDA port mirrors this
// list of ops, each checked forward and backward (native/tests).
void embedding_backward(const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable);

// ---- RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, per row; rstd [T] saved for the backward.
void rmsnorm_forward(const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd);
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd, int64_t T, int64_t d, float* dx);

// ---- Rotary position embedding, in place on [T, heads * hd] rows, positions 0..T-1.
// The angle table follows llama.cpp: theta_i(p) = p * base^(-2i / n_rot), built by repeated
// multiplication in float32 as ggml does, so that logits match llama.cpp closely.
struct RopeTable {
  int64_t T = 0, half = 0;
  std::vector<float> cos, sin;  // [T, half]
};
void rope_table(RopeTable& table, int64_t T, int64_t n_rot, float base);
void rope_forward(float* x, int64_t T, int64_t heads, int64_t hd, const RopeTable& table, RopeMode mode);
// The inverse rotation: the gradient of a rotation is the rotation by the opposite angle.
void rope_backward(float* dx, int64_t T, int64_t heads, int64_t hd, const RopeTable& table, RopeMode mode);

// ---- Causal grouped-query attention: out_h = softmax(q_h k_g^T / sqrt(hd), causal) v_g, with
// query head h reading key/value head g = h / (H / KV). q/out [T, H*hd], k/v [T, KV*hd]. The [T, T]
// probabilities are recomputed in the backward, one head at a time, instead of being stored.
struct AttnShape {
  int64_t T, H, KV, hd;
};
void attention_forward(const float* q, const float* k, const float* v, AttnShape s, float* out, AlignedFloats& scratch);
void attention_backward(const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq,
                        float* dk, float* dv, AlignedFloats& scratch);

// ---- SwiGLU: out = silu(gate) * up, elementwise over T rows of F values (the forward computes SiLU
// as llama.cpp does, which depends on the position within a row).
void swiglu_forward(const float* gate, const float* up, int64_t T, int64_t F, float* out);
void swiglu_backward(const float* dout, const float* gate, const float* up, int64_t n, float* dgate, float* dup);

// ---- Frozen product y [T, n_out] = x W^T as llama.cpp's forward computes it: x rounded (or quantised)
// for W's storage type, then ggml's dot products (ggml_numerics.h). scratch is working memory.
void frozen_matmul(const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, float* y, std::vector<float>& scratch);

// ---- Linear with an optional LoRA branch: y = (x W^T + s (x A^T) B^T) + b, in llama.cpp's order
// (build_lora_mm, then the bias), W [n_out, n_in], A [r, n_in], B [n_out, r], s = alpha / r. The base
// product is frozen_matmul; the LoRA branch (float32 adapters) sees x as is. xa = x A^T [T, r] is
// saved for the backward, which treats the input rounding as the identity (straight-through).
struct LoraRef {
  const float* A = nullptr;
  const float* B = nullptr;
  float* gA = nullptr;  // accumulated gradients (may be null when no gradient is wanted)
  float* gB = nullptr;
  int64_t r = 0;
  float scale = 0.0f;
  bool active() const { return A != nullptr; }
};
void linear_forward(const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, const float* bias,
                    const LoraRef& lora, float* y, float* xa, std::vector<float>& scratch);
// dx is overwritten when accumulate_dx is false, added to otherwise. `tmp` holds dy B [T, r].
void linear_backward(const float* dy, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out,
                     const FrozenWeight& W, const LoraRef& lora, float* dx, bool accumulate_dx, std::vector<float>& tmp);

// The frozen weight's input gradient dx [T, n_in] (= or += when accumulate) dy [T, n_out] W. A weight
// held as blocks is dequantised a block of rows at a time into `scratch` (about 8 MiB), never whole.
void frozen_input_grad(const float* dy, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, float* dx, bool accumulate,
                       std::vector<float>& scratch);

}  // namespace spogw
