// The output layer's two products (see spogw/lm_head_logits.h for the contract and why they are ours).
//
// GotoBLAS's shape, reduced to what these products need: 32 rows of W are packed k-major into a panel
// (32 d floats: 115 KB at d = 896, which stays in L2), then every block of MR rows of H runs through it
// with MR x 32 accumulators in registers, each accumulator one fma chain over k. The backward packs
// [256 x 32] pieces of W the same way. The paths differ only in how many columns one instruction
// covers, so they give the same bits.
#include "spogw/lm_head_logits.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "spogw/aligned_vector.h"
#include "spogw/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SPOGW_X86_KERNELS 1
#endif

namespace spogw {

namespace {

constexpr int64_t kPanel = 32;  // columns per packed panel: two AVX-512 registers
// Rows of W per packed piece of the backward product: [256 x 32] floats = 32 KiB, inside L1.
constexpr int64_t kBackpropRows = 256;

// Both products are the same loop: for r < rows and j < 32, the chain over k < kc of
// A[r * lda + k] * Bp[k * 32 + j], started at 0 (from_zero) or at C's value, stored times alpha (the
// logits' 1 / temperature; 1 for the backward, which leaves the chain's bits as they are). The logits
// take A = H (lda = d, kc = d) and a panel of W rows packed k-major; the backward takes A = G
// (lda = ldg, kc = a piece of the vocabulary) and a piece of W's columns.

void chains_portable(const float* A, int64_t rows, int64_t lda, const float* Bp, int64_t kc, bool from_zero, float alpha, float* C,
                     int64_t ldc) {
  for (int64_t r = 0; r < rows; r++) {
    float acc[kPanel];  // 32 independent chains, so that a compiler can vectorise across them
    for (int64_t j = 0; j < kPanel; j++) acc[j] = from_zero ? 0.0f : C[r * ldc + j];
    for (int64_t k = 0; k < kc; k++) {
      const float a = A[r * lda + k];
      for (int64_t j = 0; j < kPanel; j++) acc[j] = std::fma(a, Bp[k * kPanel + j], acc[j]);
    }
    for (int64_t j = 0; j < kPanel; j++) C[r * ldc + j] = acc[j] * alpha;
  }
}

#ifdef SPOGW_X86_KERNELS

#define SPOGW_TARGET_AVX512 __attribute__((target("avx512f,fma")))
#define SPOGW_TARGET_AVX2 __attribute__((target("avx2,fma")))

// MR rows x 32 columns in 2 MR zmm accumulators (MR = 6: 12 of the 32 registers; 6 x 32 measured as fast
// as 12 x 32 here, 131 vs 131 GFLOP/s per core on the logits).
template <int MR>
SPOGW_TARGET_AVX512 void block_avx512(const float* A, int64_t lda, const float* Bp, int64_t kc, bool from_zero, float alpha, float* C,
                                      int64_t ldc) {
  __m512 acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    acc[i][0] = from_zero ? _mm512_setzero_ps() : _mm512_loadu_ps(C + i * ldc);
    acc[i][1] = from_zero ? _mm512_setzero_ps() : _mm512_loadu_ps(C + i * ldc + 16);
  }
  for (int64_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(Bp + k * kPanel), b1 = _mm512_load_ps(Bp + k * kPanel + 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m512 a = _mm512_set1_ps(A[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
    }
  }
  const __m512 s = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    _mm512_storeu_ps(C + i * ldc, _mm512_mul_ps(acc[i][0], s));
    _mm512_storeu_ps(C + i * ldc + 16, _mm512_mul_ps(acc[i][1], s));
  }
}

SPOGW_TARGET_AVX512 void chains_avx512(const float* A, int64_t rows, int64_t lda, const float* Bp, int64_t kc, bool from_zero, float alpha,
                                       float* C, int64_t ldc) {
  int64_t r = 0;
  for (; r + 6 <= rows; r += 6) block_avx512<6>(A + r * lda, lda, Bp, kc, from_zero, alpha, C + r * ldc, ldc);
  const float* a = A + r * lda;
  float* c = C + r * ldc;
  switch (rows - r) {
    case 5: return block_avx512<5>(a, lda, Bp, kc, from_zero, alpha, c, ldc);
    case 4: return block_avx512<4>(a, lda, Bp, kc, from_zero, alpha, c, ldc);
    case 3: return block_avx512<3>(a, lda, Bp, kc, from_zero, alpha, c, ldc);
    case 2: return block_avx512<2>(a, lda, Bp, kc, from_zero, alpha, c, ldc);
    case 1: return block_avx512<1>(a, lda, Bp, kc, from_zero, alpha, c, ldc);
    default: return;
  }
}

// MR rows x 32 columns in 4 MR ymm accumulators (MR = 3: 12 of the 16 registers).
template <int MR>
SPOGW_TARGET_AVX2 void block_avx2(const float* A, int64_t lda, const float* Bp, int64_t kc, bool from_zero, float alpha, float* C,
                                  int64_t ldc) {
  __m256 acc[MR][4];
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) acc[i][c] = from_zero ? _mm256_setzero_ps() : _mm256_loadu_ps(C + i * ldc + 8 * c);
  for (int64_t k = 0; k < kc; k++) {
    __m256 b[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) b[c] = _mm256_load_ps(Bp + k * kPanel + 8 * c);
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
      const __m256 a = _mm256_set1_ps(A[i * lda + k]);
#pragma GCC unroll 4
      for (int c = 0; c < 4; c++) acc[i][c] = _mm256_fmadd_ps(a, b[c], acc[i][c]);
    }
  }
  const __m256 s = _mm256_set1_ps(alpha);
#pragma GCC unroll 4
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) _mm256_storeu_ps(C + i * ldc + 8 * c, _mm256_mul_ps(acc[i][c], s));
}

SPOGW_TARGET_AVX2 void chains_avx2(const float* A, int64_t rows, int64_t lda, const float* Bp, int64_t kc, bool from_zero, float alpha,
                                   float* C, int64_t ldc) {
  int64_t r = 0;
  for (; r + 3 <= rows; r += 3) block_avx2<3>(A + r * lda, lda, Bp, kc, from_zero, alpha, C + r * ldc, ldc);
  if (rows - r == 2) block_avx2<2>(A + r * lda, lda, Bp, kc, from_zero, alpha, C + r * ldc, ldc);
  if (rows - r == 1) block_avx2<1>(A + r * lda, lda, Bp, kc, from_zero, alpha, C + r * ldc, ldc);
}

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  return has;
}
bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

#else

bool cpu_has_avx512() { return false; }
bool cpu_has_avx2() { return false; }

#endif

using ChainsFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, bool, float, float*, int64_t);

ChainsFn chains_fn(LogitsPath path) {
  if (path == LogitsPath::kAuto) path = cpu_has_avx512() ? LogitsPath::kAvx512 : cpu_has_avx2() ? LogitsPath::kAvx2 : LogitsPath::kPortable;
  if (!logits_path_available(path)) throw Error("lm_head_logits: this CPU cannot run the requested instruction-set path");
#ifdef SPOGW_X86_KERNELS
  if (path == LogitsPath::kAvx512) return chains_avx512;
  if (path == LogitsPath::kAvx2) return chains_avx2;
#endif
  return chains_portable;
}

// Runs the chains into C's first `width` columns (<= 32): straight into C for a whole panel, through a
// 32-wide copy for a partial one (whose padding columns of Bp are zero).
void chains_into(ChainsFn chains, const float* A, int64_t rows, int64_t lda, const float* Bp, int64_t kc, bool from_zero, float alpha,
                 float* C, int64_t ldc, int64_t width) {
  if (width == kPanel) return chains(A, rows, lda, Bp, kc, from_zero, alpha, C, ldc);
  thread_local std::vector<float> edge;
  edge.assign(size_t(rows * kPanel), 0.0f);
  for (int64_t r = 0; r < rows; r++) std::memcpy(edge.data() + r * kPanel, C + r * ldc, size_t(width) * sizeof(float));
  chains(A, rows, lda, Bp, kc, from_zero, alpha, edge.data(), kPanel);
  for (int64_t r = 0; r < rows; r++) std::memcpy(C + r * ldc, edge.data() + r * kPanel, size_t(width) * sizeof(float));
}

}  // namespace

bool logits_path_available(LogitsPath path) {
  switch (path) {
    case LogitsPath::kAvx512: return cpu_has_avx512();
    case LogitsPath::kAvx2: return cpu_has_avx2();
    default: return true;
  }
}

const char* logits_path_name() { return cpu_has_avx512() ? "avx512" : cpu_has_avx2() ? "avx2" : "portable"; }

void lm_head_logits(const float* H, int64_t n, int64_t d, const float* W, int64_t w, float alpha, float* Z, int64_t ldz, LogitsPath path) {
  const ChainsFn chains = chains_fn(path);
  thread_local AlignedFloats packed;  // one panel; per thread, since callers split the vocabulary over threads
  packed.resize(size_t(kPanel * d));
  for (int64_t p0 = 0; p0 < w; p0 += kPanel) {
    const int64_t pw = std::min(kPanel, w - p0);
    float* Bp = packed.data();  // Bp[k * 32 + j] = W[(p0 + j) * d + k]; columns pw .. 31 zero
    for (int64_t j = 0; j < kPanel; j++) {
      const float* row = W + (p0 + j) * d;
      for (int64_t k = 0; k < d; k++) Bp[k * kPanel + j] = j < pw ? row[k] : 0.0f;
    }
    chains_into(chains, H, n, d, Bp, d, true, alpha, Z + p0, ldz, pw);
  }
}

void lm_head_backprop(const float* G, int64_t n, int64_t ldg, const float* W, int64_t w, int64_t d, int64_t j0, int64_t j1, bool accumulate,
                      float* dH, LogitsPath path) {
  const ChainsFn chains = chains_fn(path);
  thread_local AlignedFloats packed;  // W[v0 .. v0 + 256, p0 .. p0 + 32], as it lies (row-major, 32 wide)
  packed.resize(size_t(kBackpropRows * kPanel));
  if (w == 0 && !accumulate)
    for (int64_t r = 0; r < n; r++) std::fill(dH + r * d + j0, dH + r * d + j1, 0.0f);
  for (int64_t v0 = 0; v0 < w; v0 += kBackpropRows) {
    const int64_t kc = std::min(kBackpropRows, w - v0);
    for (int64_t p0 = j0; p0 < j1; p0 += kPanel) {
      const int64_t pw = std::min(kPanel, j1 - p0);
      float* Bp = packed.data();
      for (int64_t v = 0; v < kc; v++) {
        const float* row = W + (v0 + v) * d + p0;
        for (int64_t j = 0; j < kPanel; j++) Bp[v * kPanel + j] = j < pw ? row[j] : 0.0f;
      }
      chains_into(chains, G + v0, n, ldg, Bp, kc, v0 == 0 && !accumulate, 1.0f, dH + p0, d, pw);
    }
  }
}

}  // namespace spogw
