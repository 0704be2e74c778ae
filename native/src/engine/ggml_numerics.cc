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

namespace {

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

float round_f16(float x) {
  const uint32_t u = f32_bits(x);
  const uint32_t sign = u & 0x80000000u;
  const float ax = std::fabs(x);
  if (!std::isfinite(x)) return x;
  if (ax >= 65520.0f) return from_bits(sign | 0x7f800000u);  // rounds to infinity in f16
  if (ax < 6.103515625e-05f) {  // f16 subnormal range: multiples of 2^-24
    const float q = std::nearbyint(ax * 16777216.0f) / 16777216.0f;
    return sign ? -q : q;
  }
  // Keep 10 mantissa bits: round the low 13 bits to nearest even.
  const uint32_t mag = u & 0x7fffffffu;
  const uint32_t rounded = (mag + 0x0fffu + ((mag >> 13) & 1u)) & ~0x1fffu;
  return from_bits(sign | rounded);
}

float round_bf16(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;  // NaN
  u = (u + (0x7fffu + ((u >> 16) & 1u))) & 0xffff0000u;
  return from_bits(u);
}

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

float dot_tinyblas_bf16(const float* a, const float* b, int64_t k) {
  float acc[kLanes] = {};
  for (int64_t l = 0; l < k; l += 2 * kLanes)
    for (int s = 0; s < kLanes; s++) {
      acc[s] = std::fma(a[l + 2 * s + 1], b[l + 2 * s + 1], acc[s]);  // exact products: fma = add
      acc[s] = std::fma(a[l + 2 * s], b[l + 2 * s], acc[s]);
    }
  return reduce_lanes(acc);
}

float dot_vec_bf16(const float* a, const float* b, int64_t k) {
  float c1[kLanes] = {}, c2[kLanes] = {};
  int64_t i = 0;
  for (; i + 64 <= k; i += 64)
    for (int s = 0; s < kLanes; s++) {
      c1[s] = std::fma(a[i + 2 * s + 1], b[i + 2 * s + 1], c1[s]);
      c1[s] = std::fma(a[i + 2 * s], b[i + 2 * s], c1[s]);
      c2[s] = std::fma(a[i + 32 + 2 * s + 1], b[i + 32 + 2 * s + 1], c2[s]);
      c2[s] = std::fma(a[i + 32 + 2 * s], b[i + 32 + 2 * s], c2[s]);
    }
  double sum = 0.0;
  sum += double(reduce_lanes(c1));
  sum += double(reduce_lanes(c2));
  for (; i < k; i++) sum += double(a[i] * b[i]);
  return float(sum);
}

namespace {

// hsum of a __m256 (tinyBLAS's hsum, hsum_float_8 in ggml's x86 quants): halves, then pairs.
float reduce_8(const float* v) {
  float h[4];
  for (int i = 0; i < 4; i++) h[i] = v[i + 4] + v[i];
  return (h[0] + h[2]) + (h[1] + h[3]);
}

}  // namespace

void quantize_q8_0(const float* x, int64_t n, int8_t* q, float* d) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float* xb = x + b * 32;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, std::fabs(xb[j]));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    d[b] = round_f16(amax / 127.0f);
    for (int j = 0; j < 32; j++) q[b * 32 + j] = int8_t(std::nearbyint(xb[j] * id));
  }
}

float dot_q8_0(Q8Row a, Q8Row b, int64_t k) {
  float acc[8] = {};
  for (int64_t blk = 0; blk < k / 32; blk++) {
    const float scale = a.d[blk] * b.d[blk];  // F16 x F16: exact
    const int8_t* qa = a.q + blk * 32;
    const int8_t* qb = b.q + blk * 32;
    for (int s = 0; s < 8; s++) {
      int32_t sum = 0;
      for (int u = 0; u < 4; u++) sum += int32_t(qa[4 * s + u]) * int32_t(qb[4 * s + u]);
      acc[s] = std::fma(scale, float(sum), acc[s]);
    }
  }
  return reduce_8(acc);
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

void mul_mat_q8_0(Q8Row W, int64_t m, int64_t k, Q8Row x, int64_t n, float* y, int64_t ldy) {
  const int64_t blocks = k / 32;
  parallel_for(m, [&](int64_t o0, int64_t o1) {
    for (int64_t t = 0; t < n; t++)
      for (int64_t o = o0; o < o1; o++)
        y[t * ldy + o] = dot_q8_0({W.q + o * k, W.d + o * blocks}, {x.q + t * k, x.d + t * blocks}, k);
  });
}

void force_portable_kernels(bool on) { g_force_portable = on; }
bool avx512_kernels_available() { return cpu_has_avx512(); }

void mul_mat(const float* W, int64_t m, int64_t k, const float* x, int64_t n, DotType type, float* y, int64_t ldy) {
  // ggml_compute_forward_mul_mat: llamafile_sgemm (tinyBLAS) takes the product when it can;
  // otherwise each output is one vec_dot of the weight's type.
  const int64_t step = type == DotType::kBF16 ? 2 * kLanes : kLanes;
  const bool tinyblas = n >= 2 && k % step == 0 && m % 4 == 0;
  if (!tinyblas || type == DotType::kBF16) {
    parallel_for(m, [&](int64_t o0, int64_t o1) {
      for (int64_t t = 0; t < n; t++)
        for (int64_t o = o0; o < o1; o++) {
          const float* a = W + o * k;
          const float* b = x + t * k;
          switch (type) {
            case DotType::kF32: y[t * ldy + o] = dot_vec_f32(a, b, k); break;
            case DotType::kF16: y[t * ldy + o] = dot_vec_f16(a, b, k); break;
            case DotType::kBF16: y[t * ldy + o] = tinyblas ? dot_tinyblas_bf16(a, b, k) : dot_vec_bf16(a, b, k); break;
          }
        }
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
