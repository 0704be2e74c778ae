// x86 SIMD versions of ggml_numerics' hot kernels (private to the engine): the same operations in the
// same order as the portable versions in ggml_numerics.cc, so both give the same bits. Each group is
// compiled with a target attribute; call it only when its available() says the CPU has the ISA.
#pragma once
#include <cstdint>

namespace spogw::ggml::avx512 {

bool available();
bool has_bf16();  // AVX512-BF16 (decides how ggml's AVX-512 builds compute BF16 products)

// y[j * ldy + i] = dot_tinyblas(W + i * ldw, x_j, k) for i < 4, j < rn (rn in 1..6), with the rows
// x_j packed chunk by chunk: xp holds x_0[0:16], x_1[0:16], .., x_rn-1[0:16], x_0[16:32], ...
void tile(const float* W, int64_t ldw, const float* xp, int64_t k, int rn, float* y, int64_t ldy);

// The same for dot_tinyblas_bf16 (k % 32 == 0, rn in 1..4), with each 32-value chunk of x_j packed
// as its 16 odd-indexed values, then its 16 even-indexed ones.
void tile_bf16(const float* W, int64_t ldw, const float* xp, int64_t k, int rn, float* y, int64_t ldy);

// ggml_vec_dot_f32 (the 64-float steps in registers, the tail as the portable version).
float dot_vec_f32(const float* a, const float* b, int64_t k);
// out[j] = dot_vec_f32(key j, q, k) for j < n, the same bits, 16 keys per step; k % 64 == 0 and Kt the
// keys transposed: Kt[e * ldkt + j] = key j's value e, readable up to the next multiple of 16 keys.
void dot_vec_f32_keys(const float* q, const float* Kt, int64_t ldkt, int64_t n, int64_t k, float* out);

// row[j] = ggml_v_expf(row[j] - max) for j < n in 16-wide blocks; the double sum of block sums.
double exp_blocks(float* row, int64_t n, float max);

// out[i] = silu(gate[i]) * up[i] for the whole 16-wide blocks of a row; returns how many were done.
int64_t swiglu_blocks(const float* gate, const float* up, int64_t n, float* out);

}  // namespace spogw::ggml::avx512

namespace spogw::ggml::avx2 {

bool available();  // AVX2, FMA and F16C (what ggml's AVX2 build needs)

// The 8-lane build's tinyBLAS tile: y[j * ldy + i] = 8-lane dot of W row i and x_j over k (k % 8 == 0)
// for i < 4, j < rn (rn in 1..3), with the rows x_j packed chunk by chunk (8 values each).
void tile(const float* W, int64_t ldw, const float* xp, int64_t k, int rn, float* y, int64_t ldy);

// y[j * ldy + i] = the Q8_0 dot product (mul_mat_q8_0) of row i of W and row j of x for i < 4, j < rn (rn in 1..2); W rows hold k
// values (k / 32 scales), as do x rows.
void q8_0_tile(const int8_t* Wq, const float* Wd, const int8_t* xq, const float* xd, int64_t k, int rn, float* y, int64_t ldy);

}  // namespace spogw::ggml::avx2
