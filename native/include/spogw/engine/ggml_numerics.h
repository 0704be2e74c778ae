// llama.cpp's CPU arithmetic, reproduced operation by operation, so that the engine's forward pass
// gives the same float32 values as the model node-llama-cpp samples from.
//
// Why: llama.cpp rounds every matmul input to the weight's "vec dot" type (F16 for F16 weights). An
// activation that differs from llama.cpp's in its last float32 bit (another summation order, another
// expf) can sit next to an F16 rounding boundary and round one F16 step away; that one input step
// moved next-token probabilities by up to 7e-4. Matching llama.cpp's float32 values exactly removes
// those flips. What is reproduced (ggml's CPU backend as built for AVX-512 machines, where every SIMD
// vector holds 16 floats, and for AVX2 machines, 8 floats; node-llama-cpp 3.21.1's prebuilt binaries,
// llama.cpp release v0.4.0):
//
//   - mul_mat for F32, F16 and BF16 weights, taking the path ggml takes for the shape: llamafile's
//     tinyBLAS (16-lane accumulators, one per output, reduced by _mm512_reduce_add_ps) when the batch
//     has >= 2 columns, k is a multiple of the kernel's step and rows % 4 == 0; else ggml_vec_dot_*.
//     BF16 products are AVX512-BF16 dot-pair instructions (the AVX-512 build has them).
//   - Q8_0 weights: activations quantised to Q8_0 blocks, integer dot products in groups of 4 bytes,
//     scaled and accumulated in 8 lanes, as tinyBLAS_Q0_AVX and ggml_vec_dot_q8_0_q8_0 both do.
//   - ggml_v_expf (the vectorised expf behind softmax and SiLU; the two builds differ in its last
//     steps) and glibc expf for scalar tails.
//
// Every function here is plain C++ whose result does not depend on the compiler: fused multiply-adds
// are written as std::fma and the library is built with -ffp-contract=off, so nothing else is fused.
// The hot ones also have x86 SIMD versions (ggml_numerics_x86.cc: AVX-512 tiles, dots, exp and SiLU;
// AVX2 Q8_0 tiles) that perform the same operations in the same order; test/train/engineKernels
// compares the two bit for bit, and native/dev/ggml checks every operation against ggml's own.
// On a CPU with neither AVX-512 nor AVX2 + FMA + F16C (llama.cpp's older variants), the large products
// go to OpenBLAS and the engine agrees with llama.cpp to ~1e-6 except where an input rounding flips.
#pragma once
#include <cstdint>

namespace spogw::ggml {

// The ggml CPU build being reproduced: the one llama.cpp loads on this CPU (its best-scoring variant).
// kAvx512Bf16: 16-float vectors and AVX512-BF16 dot pairs (zen4, cooperlake variants); kAvx512: 16
// floats without them (skylakex, cannonlake, cascadelake, icelake); kAvx2: 8 floats (haswell,
// alderlake); kNone: none of these (the engine then uses OpenBLAS products, see KernelMode). Checked
// against each of these ggml libraries that runs on the development machine (not sapphirerapids,
// whose F16 fallback dot uses AVX512-FP16 arithmetic, nor alderlake).
enum class Build { kNone, kAvx512Bf16, kAvx512, kAvx2 };
Build build();
// Chosen at start-up from the CPU, or SPOGW_GGML_BUILD=avx512bf16|avx512|avx2 (the lab, tests).
int lanes();              // floats per vector in that build: 16 or 8

// Which kernels run; set at start-up from SPOGW_KERNELS=auto|portable|blas. auto: the SIMD kernels
// for the reproduced build where this CPU has them, else the portable ones, or OpenBLAS products when
// no build is reproduced; portable: the portable kernels everywhere (AVX-512 arithmetic when no build
// is); blas: OpenBLAS products (within float32 rounding of llama.cpp, not bit for bit).
enum class KernelMode { kAuto, kPortable, kBlas };
void set_kernel_mode(KernelMode mode);
KernelMode kernel_mode();
// True when the forward reproduces llama.cpp bit for bit here.
bool exact_llama_cpp_numerics();

// float32 -> F16 / BF16 -> float32, rounding to nearest even as ggml's conversions (F16C, and
// GGML_FP32_TO_BF16) do.
float round_f16(float x);
float round_bf16(float x);
// The value of an F16 bit pattern (exact; NaN and infinities kept).
float f16_to_f32(uint16_t h);

// hsum_float_8 of ggml's x86 kernels (and tinyBLAS's 8-lane hsum): halves 8 -> 4, then (0+2) + (1+3).
float hsum_float_8(const float* v);

// One tinyBLAS output: lane s accumulates a[L c + s] * b[L c + s] over chunks c with FMA, then the L
// lanes are reduced by the build's horizontal sum. k must be a multiple of L = lanes().
float dot_tinyblas(const float* a, const float* b, int64_t k);
// ggml_vec_dot_f32: four L-lane accumulators over 4L-float steps, combined (0+2, 1+3, then 0+1),
// reduced, then the leftover products added to the float sum one by one (see the .cc for which fuse).
float dot_vec_f32(const float* a, const float* b, int64_t k);
// Attention's scores, many keys against one query: out[j] = dot_vec_f32(key j, q, k) for j < n, the
// same bits. Kt holds the keys transposed, Kt[e * ldkt + j] = key j's value e, with ldkt a multiple of
// 16 and the padding columns readable. keys_at_once(k) says whether the 16-keys-per-step kernel runs
// (AVX-512, k % 64 == 0); otherwise the keys go one at a time through dot_vec_f32.
bool keys_at_once(int64_t k);
void dot_vec_f32_keys(const float* q, const float* Kt, int64_t ldkt, int64_t n, int64_t k, float* out);

// Q8_0 blocks of 32: int8 values q and a scale d (an F16 value) per block; x ~ q * d.
struct Q8Row {
  const int8_t* q;
  const float* d;
};
// quantize_row_q8_0: d = amax / 127 rounded to F16, q = round(x * 127 / amax) (ties to even).
void quantize_q8_0(const float* x, int64_t n, int8_t* q, float* d);

// ggml_vec_soft_max_f32's exponentials: row[j] = ggml_v_expf(row[j] - max) for j < n, in L-wide
// blocks each reduced in float; returns the blocks' double sum. (llama.cpp's rows run over the whole
// KV window; masked cells exp to exactly 0, which the blocks past n here stand for.)
double exp_blocks(float* row, int64_t n, float max);
// ggml_vec_swiglu_f32 on one row: ggml_v_silu over whole L-wide blocks, libm's expf for the tail.
void swiglu_row(const float* gate, const float* up, int64_t n, float* out);

// The type ggml's dot products see for a weight: F32 weights use float activations; F16 and BF16
// weights use activations rounded to that type (the caller rounds them, see model.h InputRounding).
enum class DotType { kF32, kF16, kBF16 };

// y[t * ldy + o] = W[o, :] . x[t, :] for o < m, t < n, as ggml_mul_mat(W, x) computes it with W
// [m, k] row-major and x [n, k] contiguous rows. Runs on the engine's thread pool.
void mul_mat(const float* W, int64_t m, int64_t k, const float* x, int64_t n, DotType type, float* y, int64_t ldy);

// y[t * ldy + o] = W[o, :] . x[t, :] where row t of x is zero past its causal limit (column past + t):
// llama.cpp's attention-times-values product over the transposed value cache, for query rows at
// positions past .. past + n - 1. W [m, ldw] and x [n, ldx] hold ldw = ldx values per row, zero-padded
// to a multiple of 64. batched: the sequence was computed as a batch of >= 2 rows (ggml's tinyBLAS
// path; see AttnShape::item_rows), which a piece of it with n = 1 row must still follow.
void mul_mat_causal(const float* W, int64_t m, int64_t ldw, const float* x, int64_t n, int64_t ldx, int64_t past, bool batched,
                    float* y, int64_t ldy);

// The same for Q8_0 weights [m, k] and activations [n, k], both as blocks (k % 32 == 0): each output is
// exact int32 sums of 4-byte groups, scaled and accumulated in 8 float lanes, then reduced
// (tinyBLAS_Q0_AVX and ggml_vec_dot_q8_0_q8_0 compute it so in every build).
void mul_mat_q8_0(Q8Row W, int64_t m, int64_t k, Q8Row x, int64_t n, float* y, int64_t ldy);

}  // namespace spogw::ggml
