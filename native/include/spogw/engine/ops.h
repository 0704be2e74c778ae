// Transformer layers as forward/backward pairs on row-major float32 buffers (llm.c style). Each
// backward takes the forward's saved inputs and writes (overwrites) the input gradients; parameter
// gradients (LoRA, the embedding table) accumulate. Shapes use the notation of model.h; rows are
// tokens. native/tests/ops/*.h check each pair against float64 references and finite differences.
#pragma once
#include <cstdint>
#include <vector>

#include "spogw/engine/group_layout.h"
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

// ---- Rotary position embedding, in place on [T, heads * hd] rows; row t is at position positions[t]
// (nullptr: positions 0..T-1). The angle table follows llama.cpp: theta_i(p) = p * base^(-2i / n_rot),
// built by repeated multiplication in float32 as ggml does, so that logits match llama.cpp closely; a
// row's rotation reads only its own position's angles, so a row at position p rotates the same in a
// packed group (group_layout.h) as in its own sequence. Every position must be below table.T (the
// caller builds the table for its largest position).
struct RopeTable {
  int64_t T = 0, half = 0;
  std::vector<float> cos, sin;  // [T, half]
};
void rope_table(RopeTable& table, int64_t T, int64_t n_rot, float base);
void rope_forward(float* x, int64_t T, int64_t heads, int64_t hd, const RopeTable& table, RopeMode mode,
                  const int32_t* positions = nullptr);
// The inverse rotation: the gradient of a rotation is the rotation by the opposite angle.
void rope_backward(float* dx, int64_t T, int64_t heads, int64_t hd, const RopeTable& table, RopeMode mode,
                   const int32_t* positions = nullptr);

// ---- Causal grouped-query attention: out_h = softmax(q_h k_g^T / sqrt(hd), causal) v_g, with
// query head h reading key/value head g = h / (H / KV). The T query rows sit at positions
// past .. past + T - 1 of a sequence whose keys and values are all given: q/out [T, H*hd], k/v
// [past + T, KV*hd], and query row t attends to key rows 0 .. past + t (past = 0: plain causal
// attention). The probabilities are recomputed in the backward, one head at a time ([T, past + T]),
// instead of being stored.
//
// ggml picks its product paths by the size of the batch llama.cpp computed the sequence in (tinyBLAS
// from 2 rows on): item_rows is that size (0: past + T, the whole sequence), so that rows computed in
// pieces (a shared prompt, then each response) take the paths, and so get the bits, of the whole.
struct AttnShape {
  int64_t T, H, KV, hd;
  int64_t past = 0;
  int64_t item_rows = 0;
  int64_t kv_rows() const { return past + T; }
  bool batched() const { return (item_rows > 0 ? item_rows : past + T) >= 2; }
};
void attention_forward(const float* q, const float* k, const float* v, AttnShape s, float* out, AlignedFloats& scratch);
// dq [T, H*hd], dk and dv [past + T, KV*hd], all overwritten.
void attention_backward(const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq,
                        float* dk, float* dv, AlignedFloats& scratch);

// ---- Tree attention over a packed group (group_layout.h): q/out [rows, H*hd], k/v [rows, KV*hd].
// The prompt rows attend causally within the prompt, computed once; response k's rows attend to the
// prompt's keys/values and their own. Each response is computed on a contiguous [P + n_k] copy of
// its keys and values (prompt rows, then its own), so every row's arithmetic, down to the summation
// order, is that of its item computed alone with attention_forward. The backward sums the prompt
// rows' dK/dV over the prompt's own queries and every response's.
struct AttnHeads {
  int64_t H, KV, hd;
};
struct TreeAttnScratch {
  AlignedFloats attn;
  std::vector<float> k, v, dk, dv;  // one response's [P + n_k, KV*hd] keys/values and their gradients
};
void tree_attention_forward(const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads heads, float* out,
                            TreeAttnScratch& scratch);
// dq [rows, H*hd], dk and dv [rows, KV*hd], all overwritten.
void tree_attention_backward(const float* dout, const float* q, const float* k, const float* v, const GroupLayout& g,
                             AttnHeads heads, float* dq, float* dk, float* dv, TreeAttnScratch& scratch);

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
                     const float* W, const LoraRef& lora, float* dx, bool accumulate_dx, std::vector<float>& tmp);

}  // namespace spogw
