#include "ggml_numerics_x86.h"

#include <cmath>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define SPOGW_AVX512 __attribute__((target("avx512f,fma")))

namespace spogw::ggml::avx512 {

namespace {

constexpr int kLanes = 16;

// The AVX-512 build's hsum (hsum<16> in ggml_numerics.cc) on a register: halves, quarters, then
// (0+2) + (1+3).
SPOGW_AVX512 inline float reduce16(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 h = _mm256_add_ps(hi, lo);
  const __m128 q = _mm_add_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
  const __m128 p = _mm_add_ps(q, _mm_shuffle_ps(q, q, _MM_SHUFFLE(1, 0, 3, 2)));  // q0+q2, q1+q3
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}

// Fully unrolled so that the 4 x RN accumulators stay in registers (RN = 6 uses 24 of the 32). x is
// packed: for each 16-float chunk l, the RN rows' chunks follow one another (one sequential stream).
template <int RN>
SPOGW_AVX512 void tile_rn(const float* W, int64_t ldw, const float* xp, int64_t k, float* y, int64_t ldy) {
  __m512 acc[RN][4];
#pragma GCC unroll 8
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[j][i] = _mm512_setzero_ps();
  for (int64_t l = 0; l < k; l += kLanes, xp += RN * kLanes) {
    __m512 a[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) a[i] = _mm512_loadu_ps(W + i * ldw + l);
#pragma GCC unroll 8
    for (int j = 0; j < RN; j++) {
      const __m512 b = _mm512_loadu_ps(xp + j * kLanes);
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) acc[j][i] = _mm512_fmadd_ps(a[i], b, acc[j][i]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) y[j * ldy + i] = reduce16(acc[j][i]);
}

// The BF16 tile: lane s of each 32-value chunk adds the odd product (2s + 1) and then the even one
// (2s), as AVX512-BF16's dot-pair instruction does; the products of BF16 values are exact, so an FMA
// is that rounded sum. W rows are deinterleaved here; x comes packed as [odd 16][even 16] per chunk.
template <int RN>
SPOGW_AVX512 void tile_bf16_rn(const float* W, int64_t ldw, const float* xp, int64_t k, float* y, int64_t ldy) {
  const __m512i even_idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_idx = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  __m512 acc[RN][4];
#pragma GCC unroll 4
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[j][i] = _mm512_setzero_ps();
  for (int64_t l = 0; l < k; l += 2 * kLanes, xp += RN * 2 * kLanes) {
    __m512 odd[4], even[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      const __m512 lo = _mm512_loadu_ps(W + i * ldw + l), hi = _mm512_loadu_ps(W + i * ldw + l + kLanes);
      odd[i] = _mm512_permutex2var_ps(lo, odd_idx, hi);
      even[i] = _mm512_permutex2var_ps(lo, even_idx, hi);
    }
#pragma GCC unroll 4
    for (int j = 0; j < RN; j++) {
      const __m512 bo = _mm512_loadu_ps(xp + j * 2 * kLanes), be = _mm512_loadu_ps(xp + j * 2 * kLanes + kLanes);
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) acc[j][i] = _mm512_fmadd_ps(even[i], be, _mm512_fmadd_ps(odd[i], bo, acc[j][i]));
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) y[j * ldy + i] = reduce16(acc[j][i]);
}

// expf_simd on 16 lanes.
SPOGW_AVX512 inline __m512 expf16(__m512 x) {
  const __m512 r = _mm512_set1_ps(0x1.8p23f);
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r), r);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 odd = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f));
  const __m512 even = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f));
  const __m512 j = _mm512_fmadd_ps(_mm512_fmadd_ps(odd, u, even), u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  const __m512 scaled = _mm512_scalef_ps(j, n);
  const __mmask16 out_of_range = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
  if (out_of_range == 0) return scaled;
  const __mmask16 negative = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
  const __m512 limit = _mm512_mask_blend_ps(negative, _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(out_of_range, scaled, limit);
}

}  // namespace

bool available() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  return has;
}

bool has_bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

void tile(const float* W, int64_t ldw, const float* xp, int64_t k, int rn, float* y, int64_t ldy) {
  switch (rn) {
    case 6: return tile_rn<6>(W, ldw, xp, k, y, ldy);
    case 5: return tile_rn<5>(W, ldw, xp, k, y, ldy);
    case 4: return tile_rn<4>(W, ldw, xp, k, y, ldy);
    case 3: return tile_rn<3>(W, ldw, xp, k, y, ldy);
    case 2: return tile_rn<2>(W, ldw, xp, k, y, ldy);
    default: return tile_rn<1>(W, ldw, xp, k, y, ldy);
  }
}

void tile_bf16(const float* W, int64_t ldw, const float* xp, int64_t k, int rn, float* y, int64_t ldy) {
  switch (rn) {
    case 4: return tile_bf16_rn<4>(W, ldw, xp, k, y, ldy);
    case 3: return tile_bf16_rn<3>(W, ldw, xp, k, y, ldy);
    case 2: return tile_bf16_rn<2>(W, ldw, xp, k, y, ldy);
    default: return tile_bf16_rn<1>(W, ldw, xp, k, y, ldy);
  }
}

SPOGW_AVX512 float dot_vec_f32(const float* a, const float* b, int64_t k) {
  const int64_t np = k & ~int64_t(63);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (int64_t i = 0; i < np; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  float sum = reduce16(_mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3)));
  int64_t i = np;
  const int64_t unrolled_end = i + (k - i) / 8 * 8;  // the tail as in ggml_numerics.cc's dot_vec_f32
  for (; i < unrolled_end; i++) sum += a[i] * b[i];
  for (; i < k; i++) sum = std::fma(a[i], b[i], sum);
  return sum;
}

// dot_vec_f32 above for 16 keys at once, for k a multiple of 64 (no tail): the keys sit in the lanes
// (Kt is the keys transposed, [k, ldkt]), and lane j carries key j through the same operations in the
// same order: the four 16-lane accumulators of each position l (the fmas over 64-float steps), their
// (0+2) + (1+3), then reduce16's tree across the 16 positions (l + 8, then + 4, then (0+2) + (1+3)).
SPOGW_AVX512 void dot_vec_f32_keys(const float* q, const float* Kt, int64_t ldkt, int64_t n, int64_t k, float* out) {
  for (int64_t j0 = 0; j0 < n; j0 += kLanes) {
    __m512 t[kLanes];
#pragma GCC unroll 16
    for (int l = 0; l < kLanes; l++) {
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (int64_t i = 0; i < k; i += 64) {
        const float* at = Kt + (i + l) * ldkt + j0;
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(at), _mm512_set1_ps(q[i + l]), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(at + 16 * ldkt), _mm512_set1_ps(q[i + l + 16]), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(at + 32 * ldkt), _mm512_set1_ps(q[i + l + 32]), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(at + 48 * ldkt), _mm512_set1_ps(q[i + l + 48]), s3);
      }
      t[l] = _mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3));
    }
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++) t[l] = _mm512_add_ps(t[l + 8], t[l]);
#pragma GCC unroll 4
    for (int l = 0; l < 4; l++) t[l] = _mm512_add_ps(t[l + 4], t[l]);
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(t[0], t[2]), _mm512_add_ps(t[1], t[3]));
    if (j0 + kLanes <= n)
      _mm512_storeu_ps(out + j0, sum);
    else
      _mm512_mask_storeu_ps(out + j0, __mmask16((1u << (n - j0)) - 1u), sum);
  }
}

SPOGW_AVX512 double exp_blocks(float* row, int64_t n, float max) {
  const __m512 mx = _mm512_set1_ps(max);
  double sum = 0.0;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 v = expf16(_mm512_sub_ps(_mm512_loadu_ps(row + i), mx));
    _mm512_storeu_ps(row + i, v);
    sum += double(reduce16(v));
  }
  if (i < n) {  // a partial block: the lanes past n are masked cells, exp'd to 0 in llama.cpp
    const __mmask16 live = __mmask16((1u << (n - i)) - 1u);
    const __m512 v = _mm512_maskz_mov_ps(live, expf16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, row + i), mx)));
    _mm512_mask_storeu_ps(row + i, live, v);
    sum += double(reduce16(v));
  }
  return sum;
}

SPOGW_AVX512 int64_t swiglu_blocks(const float* gate, const float* up, int64_t n, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, expf16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(silu, _mm512_loadu_ps(up + i)));
  }
  return i;
}

}  // namespace spogw::ggml::avx512

#define SPOGW_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace spogw::ggml::avx2 {

namespace {

// hsum of 8 lanes as reduce_8: halves, then (0+2) + (1+3).
SPOGW_AVX2 inline float reduce8(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  const __m128 p = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)));
}

// The exact int32 sums of each group of 4 byte products (|a| times b signed like a: no int16 sum can
// overflow, since Q8_0 activations are within +-127).
SPOGW_AVX2 inline __m256 group_sums(__m256i a, __m256i b) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

template <int RN>
SPOGW_AVX2 void q8_0_tile_rn(const int8_t* Wq, const float* Wd, const int8_t* xq, const float* xd, int64_t k, float* y, int64_t ldy) {
  const int64_t blocks = k / 32;
  __m256 acc[RN][4];
#pragma GCC unroll 2
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[j][i] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; b++) {
#pragma GCC unroll 2
    for (int j = 0; j < RN; j++) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + j * k + b * 32));
      const float dx = xd[j * blocks + b];
#pragma GCC unroll 4
      for (int i = 0; i < 4; i++) {
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(Wq + i * k + b * 32));
        acc[j][i] = _mm256_fmadd_ps(_mm256_set1_ps(Wd[i * blocks + b] * dx), group_sums(wv, xv), acc[j][i]);
      }
    }
  }
#pragma GCC unroll 2
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) y[j * ldy + i] = reduce8(acc[j][i]);
}

// Like tinyBLAS's AVX2 gemm_bloc (16 registers): the rn x-chunks are loaded first, then each W row's
// chunk meets them, so 4 x 3 accumulators + 3 + 1 fit.
template <int RN>
SPOGW_AVX2 void tile_rn(const float* W, int64_t ldw, const float* xp, int64_t k, float* y, int64_t ldy) {
  __m256 acc[RN][4];
#pragma GCC unroll 4
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[j][i] = _mm256_setzero_ps();
  for (int64_t l = 0; l < k; l += 8, xp += RN * 8) {
    __m256 b[RN];
#pragma GCC unroll 4
    for (int j = 0; j < RN; j++) b[j] = _mm256_loadu_ps(xp + j * 8);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      const __m256 a = _mm256_loadu_ps(W + i * ldw + l);
#pragma GCC unroll 4
      for (int j = 0; j < RN; j++) acc[j][i] = _mm256_fmadd_ps(a, b[j], acc[j][i]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RN; j++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) y[j * ldy + i] = reduce8(acc[j][i]);
}

}  // namespace

bool available() {
  // F16C from CPUID leaf 1 (ECX bit 29): GCC < 11, which builds the prebuilds, has no "f16c" for
  // __builtin_cpu_supports. "avx2" already checks that the OS saves the YMM registers.
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
  }();
  return has;
}

void tile(const float* W, int64_t ldw, const float* xp, int64_t k, int rn, float* y, int64_t ldy) {
  switch (rn) {
    case 3: return tile_rn<3>(W, ldw, xp, k, y, ldy);
    case 2: return tile_rn<2>(W, ldw, xp, k, y, ldy);
    default: return tile_rn<1>(W, ldw, xp, k, y, ldy);
  }
}

void q8_0_tile(const int8_t* Wq, const float* Wd, const int8_t* xq, const float* xd, int64_t k, int rn, float* y, int64_t ldy) {
  if (rn == 2) return q8_0_tile_rn<2>(Wq, Wd, xq, xd, k, y, ldy);
  return q8_0_tile_rn<1>(Wq, Wd, xq, xd, k, y, ldy);
}

}  // namespace spogw::ggml::avx2

#else  // not x86-64 with GCC/Clang: no SIMD kernels; the portable ones run.

namespace spogw::ggml::avx512 {
bool available() { return false; }
bool has_bf16() { return false; }
void tile(const float*, int64_t, const float*, int64_t, int, float*, int64_t) {}
void tile_bf16(const float*, int64_t, const float*, int64_t, int, float*, int64_t) {}
float dot_vec_f32(const float*, const float*, int64_t) { return 0.0f; }
void dot_vec_f32_keys(const float*, const float*, int64_t, int64_t, int64_t, float*) {}
double exp_blocks(float*, int64_t, float) { return 0.0; }
int64_t swiglu_blocks(const float*, const float*, int64_t, float*) { return 0; }
}  // namespace spogw::ggml::avx512
namespace spogw::ggml::avx2 {
bool available() { return false; }
void tile(const float*, int64_t, const float*, int64_t, int, float*, int64_t) {}
void q8_0_tile(const int8_t*, const float*, const int8_t*, const float*, int64_t, int, float*, int64_t) {}
}  // namespace spogw::ggml::avx2

#endif
