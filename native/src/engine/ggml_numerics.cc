#include "spogw/engine/ggml_numerics.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "spogw/threads.h"

namespace spogw::ggml {

float reduce_lanes(const float* v) {
  float h[8], q[4];
  for (int i = 0; i < 8; i++) h[i] = v[i + 8] + v[i];
  for (int i = 0; i < 4; i++) q[i] = h[i + 4] + h[i];
  return (q[0] + q[2]) + (q[1] + q[3]);
}

float dot_tinyblas(const float* a, const float* b, int64_t k) {
  float acc[kLanes] = {};
  for (int64_t l = 0; l < k; l += kLanes)
    for (int s = 0; s < kLanes; s++) acc[s] = std::fma(a[l + s], b[l + s], acc[s]);
  return reduce_lanes(acc);
}

namespace {

// The 64-float steps shared by ggml_vec_dot_f32 and ggml_vec_dot_f16 (GGML_F32_STEP = 64, four
// accumulators of 16, GGML_F32_VEC_REDUCE). Returns the reduced float; *done = floats consumed.
float vec_dot_steps(const float* a, const float* b, int64_t k, int64_t* done) {
  const int64_t np = k & ~int64_t(63);
  float acc[4][kLanes] = {};
  for (int64_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; j++)
      for (int s = 0; s < kLanes; s++) acc[j][s] = std::fma(a[i + j * kLanes + s], b[i + j * kLanes + s], acc[j][s]);
  for (int s = 0; s < kLanes; s++) {
    acc[0][s] = acc[0][s] + acc[2][s];
    acc[1][s] = acc[1][s] + acc[3][s];
  }
  for (int s = 0; s < kLanes; s++) acc[0][s] = acc[0][s] + acc[1][s];
  *done = np;
  return reduce_lanes(acc[0]);
}

}  // namespace

float dot_vec_f32(const float* a, const float* b, int64_t k) {
  int64_t i = 0;
  float sum = vec_dot_steps(a, b, k, &i);
  // ggml's `sumf += x[i]*y[i]` tail as its compiler built it (measured for k = 1..300 against the
  // shipped library, native/dev/ggml): unrolled by 8 with product then sum, then the last k % 8 fused.
  const int64_t unrolled_end = i + (k - i) / 8 * 8;
  for (; i < unrolled_end; i++) sum += a[i] * b[i];
  for (; i < k; i++) sum = std::fma(a[i], b[i], sum);
  return sum;
}

float dot_vec_f16(const float* a, const float* b, int64_t k) {
  int64_t i = 0;
  double sum = vec_dot_steps(a, b, k, &i);
  for (; i < k; i++) sum += double(a[i] * b[i]);  // F16 x F16 products are exact in float
  return float(sum);
}

float expf_simd(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                           std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, int(n));  // _mm512_scalef_ps(j, n): n is integral here
}

float silu_simd(float x) { return x / (1.0f + expf_simd(0.0f - x)); }

float silu_scalar(float x) { return x / (1.0f + std::exp(-x)); }

// ---- mul_mat -------------------------------------------------------------------------------------

namespace {

// SPOGW_PORTABLE_KERNELS=1 runs the portable kernel everywhere (tests compare the two in one run).
std::atomic<bool> g_force_portable{[] {
  const char* v = std::getenv("SPOGW_PORTABLE_KERNELS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}()};

// tinyBLAS's gemm_bloc: outputs for W rows o0..o0+RM and x rows t0..t0+rn, each its own 16-lane
// accumulator over the whole of k.
template <int RM>
void tile_portable(const float* W, int64_t k, const float* x, int64_t o0, int64_t t0, int rn, float* y, int64_t ldy) {
  for (int j = 0; j < rn; j++)
    for (int i = 0; i < RM; i++) y[(t0 + j) * ldy + o0 + i] = dot_tinyblas(W + (o0 + i) * k, x + (t0 + j) * k, k);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SPOGW_HAVE_AVX512_KERNEL 1
// The same operations with 512-bit registers: vfmadd per lane in chunk order, then reduce_lanes.
template <int RN>
__attribute__((target("avx512f,fma"))) void tile_avx512_rn(const float* W, int64_t k, const float* x, int64_t o0, int64_t t0, float* y,
                                                            int64_t ldy) {
  __m512 acc[RN][4];
  for (int j = 0; j < RN; j++)
    for (int i = 0; i < 4; i++) acc[j][i] = _mm512_setzero_ps();
  const float* w0 = W + o0 * k;
  for (int64_t l = 0; l < k; l += kLanes) {
    const __m512 a0 = _mm512_loadu_ps(w0 + l), a1 = _mm512_loadu_ps(w0 + k + l);
    const __m512 a2 = _mm512_loadu_ps(w0 + 2 * k + l), a3 = _mm512_loadu_ps(w0 + 3 * k + l);
    for (int j = 0; j < RN; j++) {
      const __m512 bv = _mm512_loadu_ps(x + (t0 + j) * k + l);
      acc[j][0] = _mm512_fmadd_ps(a0, bv, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(a1, bv, acc[j][1]);
      acc[j][2] = _mm512_fmadd_ps(a2, bv, acc[j][2]);
      acc[j][3] = _mm512_fmadd_ps(a3, bv, acc[j][3]);
    }
  }
  alignas(64) float lanes[kLanes];
  for (int j = 0; j < RN; j++)
    for (int i = 0; i < 4; i++) {
      _mm512_store_ps(lanes, acc[j][i]);
      y[(t0 + j) * ldy + o0 + i] = reduce_lanes(lanes);
    }
}

void tile_avx512(const float* W, int64_t k, const float* x, int64_t o0, int64_t t0, int rn, float* y, int64_t ldy) {
  switch (rn) {
    case 4: return tile_avx512_rn<4>(W, k, x, o0, t0, y, ldy);
    case 3: return tile_avx512_rn<3>(W, k, x, o0, t0, y, ldy);
    case 2: return tile_avx512_rn<2>(W, k, x, o0, t0, y, ldy);
    default: return tile_avx512_rn<1>(W, k, x, o0, t0, y, ldy);
  }
}
#endif

bool cpu_has_avx512() {
#if defined(SPOGW_HAVE_AVX512_KERNEL)
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

}  // namespace

void force_portable_kernels(bool on) { g_force_portable = on; }
bool avx512_kernels_available() { return cpu_has_avx512(); }

void mul_mat(const float* W, int64_t m, int64_t k, const float* x, int64_t n, DotType type, float* y, int64_t ldy) {
  // ggml_compute_forward_mul_mat: llamafile_sgemm (tinyBLAS) takes the product when it can;
  // otherwise each output is one vec_dot of the weight's type.
  const bool tinyblas = n >= 2 && k % kLanes == 0 && m % 4 == 0;
  if (!tinyblas) {
    parallel_for(m, [&](int64_t o0, int64_t o1) {
      for (int64_t t = 0; t < n; t++)
        for (int64_t o = o0; o < o1; o++)
          y[t * ldy + o] = type == DotType::kF16 ? dot_vec_f16(W + o * k, x + t * k, k) : dot_vec_f32(W + o * k, x + t * k, k);
    });
    return;
  }
  const bool fast = cpu_has_avx512() && !g_force_portable;
  // Token blocks keep a block of x in cache while every 4-row tile of W passes over it.
  constexpr int64_t kTokenBlock = 64;
  for (int64_t tb = 0; tb < n; tb += kTokenBlock) {
    const int64_t te = std::min(n, tb + kTokenBlock);
    parallel_for(m / 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++)
        for (int64_t t = tb; t < te; t += 4) {
          const int rn = int(std::min<int64_t>(4, te - t));
#if defined(SPOGW_HAVE_AVX512_KERNEL)
          if (fast) {
            tile_avx512(W, k, x, i * 4, t, rn, y, ldy);
            continue;
          }
#endif
          tile_portable<4>(W, k, x, i * 4, t, rn, y, ldy);
        }
    });
  }
}

}  // namespace spogw::ggml
