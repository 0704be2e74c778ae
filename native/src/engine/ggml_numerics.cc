#include "spogw/engine/ggml_numerics.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ggml_numerics_x86.h"
#include "portable_clones.h"
#include "spogw/aligned_vector.h"
#include "spogw/gemm.h"
#include "spogw/threads.h"

namespace spogw::ggml {

// ---- conversions ---------------------------------------------------------------------------------

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

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        exp--;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return from_bits(bits);
}

float round_bf16(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;  // NaN
  u = (u + (0x7fffu + ((u >> 16) & 1u))) & 0xffff0000u;
  return from_bits(u);
}

// ---- the arithmetic of each ggml build, portable ---------------------------------------------------
//
// L = 16 is ggml's AVX-512 build, L = 8 its AVX2 ("haswell") build. Each function names the ggml code
// it repeats; the differences between the builds were measured in native/dev/ggml.

namespace {

// tinyBLAS's hsum: AVX-512 _mm512_reduce_add_ps halves 16 -> 8 -> 4, then (0+2) + (1+3); the AVX2
// hsum (and hsum_float_8) halves 8 -> 4, then the same.
template <int L>
SPOGW_INLINE float hsum(const float* v) {
  float h[8], q[4];
  const float* s = v;
  if (L == 16) {
    for (int i = 0; i < 8; i++) h[i] = v[i + 8] + v[i];
    s = h;
  }
  for (int i = 0; i < 4; i++) q[i] = s[i + 4] + s[i];
  return (q[0] + q[2]) + (q[1] + q[3]);
}

// GGML_F32_VEC_REDUCE's last step for 8-float vectors: (lo + hi), then two horizontal adds.
SPOGW_INLINE float hadd_8(const float* v) {
  float t[4];
  for (int i = 0; i < 4; i++) t[i] = v[i] + v[i + 4];
  return (t[0] + t[1]) + (t[2] + t[3]);
}

// One tinyBLAS output: lane s accumulates a[Lc + s] * b[Lc + s] over chunks c with FMA, then hsum.
template <int L>
SPOGW_INLINE float tiny_dot(const float* a, const float* b, int64_t k) {
  float acc[L] = {};
  for (int64_t l = 0; l < k; l += L)
    for (int s = 0; s < L; s++) acc[s] = std::fma(a[l + s], b[l + s], acc[s]);
  return hsum<L>(acc);
}

// tinyBLAS with AVX512-BF16 (32 values a step): lane s adds the odd product (2s + 1), then the even
// one (2s); products of BF16 values are exact in float, so each FMA is that rounded sum.
SPOGW_INLINE float tiny_dot_bf16_pairs(const float* a, const float* b, int64_t k) {
  float acc[16] = {};
  for (int64_t l = 0; l < k; l += 32)
    for (int s = 0; s < 16; s++) {
      acc[s] = std::fma(a[l + 2 * s + 1], b[l + 2 * s + 1], acc[s]);
      acc[s] = std::fma(a[l + 2 * s], b[l + 2 * s], acc[s]);
    }
  return hsum<16>(acc);
}

// The vector steps shared by ggml_vec_dot_f32 and _f16: four L-lane accumulators over 4L-float steps,
// combined 0+2, 1+3, then 0+1, then reduced (AVX-512: the hsum tree; AVX: horizontal adds).
template <int L>
SPOGW_INLINE float vec_steps(const float* a, const float* b, int64_t k, int64_t* done) {
  const int64_t np = k & ~int64_t(4 * L - 1);
  float acc[4][L] = {};
  for (int64_t i = 0; i < np; i += 4 * L)
    for (int j = 0; j < 4; j++)
      for (int s = 0; s < L; s++) acc[j][s] = std::fma(a[i + j * L + s], b[i + j * L + s], acc[j][s]);
  for (int s = 0; s < L; s++) {
    acc[0][s] = acc[0][s] + acc[2][s];
    acc[1][s] = acc[1][s] + acc[3][s];
  }
  for (int s = 0; s < L; s++) acc[0][s] = acc[0][s] + acc[1][s];
  *done = np;
  return L == 16 ? hsum<16>(acc[0]) : hadd_8(acc[0]);
}

template <int L>
SPOGW_AVX2_CLONE float vec_dot_f32(const float* a, const float* b, int64_t k) {
  int64_t i = 0;
  float sum = vec_steps<L>(a, b, k, &i);
  // ggml's `sumf += x[i]*y[i]` tail as each build's compiler made it (measured, k = 1..300): the
  // AVX-512 build unrolled it by 8 with product then sum and fused the last k % 8; the AVX2 build
  // fused none.
  const int64_t unfused_end = L == 16 ? i + (k - i) / 8 * 8 : k;
  for (; i < unfused_end; i++) sum += a[i] * b[i];
  for (; i < k; i++) sum = std::fma(a[i], b[i], sum);
  return sum;
}

// ggml_vec_dot_f16 on F16-valued inputs: the same steps, then the sum and the (exact) leftover
// products in double.
template <int L>
SPOGW_AVX2_CLONE float vec_dot_f16(const float* a, const float* b, int64_t k) {
  int64_t i = 0;
  double sum = vec_steps<L>(a, b, k, &i);
  for (; i < k; i++) sum += double(a[i] * b[i]);
  return float(sum);
}

// ggml_vec_dot_bf16, leftover products and the sum in double in every build. L = 32: AVX512-BF16, two
// 16-lane dot-pair accumulators over 64-value steps, each reduced and added. L = 16: AVX-512F, two
// 16-lane accumulators over 32-value steps, each reduced and added. L = 8: AVX2, four 8-lane
// accumulators over 32-value steps, combined (1+3) + (2+4), reduced. Products of BF16 values are
// exact in float, so ggml's multiply-then-add is an FMA here.
template <int L>
SPOGW_AVX2_CLONE float vec_dot_bf16(const float* a, const float* b, int64_t k) {
  double sum = 0.0;
  int64_t i = 0;
  if (L == 32) {
    float c1[16] = {}, c2[16] = {};
    for (; i + 64 <= k; i += 64)
      for (int s = 0; s < 16; s++) {
        c1[s] = std::fma(a[i + 2 * s + 1], b[i + 2 * s + 1], c1[s]);
        c1[s] = std::fma(a[i + 2 * s], b[i + 2 * s], c1[s]);
        c2[s] = std::fma(a[i + 32 + 2 * s + 1], b[i + 32 + 2 * s + 1], c2[s]);
        c2[s] = std::fma(a[i + 32 + 2 * s], b[i + 32 + 2 * s], c2[s]);
      }
    sum += double(hsum<16>(c1));
    sum += double(hsum<16>(c2));
  } else if (L == 16) {
    float c1[16] = {}, c2[16] = {};
    for (; i + 32 <= k; i += 32)
      for (int s = 0; s < 16; s++) {
        c1[s] = std::fma(a[i + s], b[i + s], c1[s]);
        c2[s] = std::fma(a[i + 16 + s], b[i + 16 + s], c2[s]);
      }
    sum += double(hsum<16>(c1));
    sum += double(hsum<16>(c2));
  } else {
    float c[4][8] = {};
    for (; i + 32 <= k; i += 32)
      for (int j = 0; j < 4; j++)
        for (int s = 0; s < 8; s++) c[j][s] = std::fma(a[i + 8 * j + s], b[i + 8 * j + s], c[j][s]);
    float c1[8];
    for (int s = 0; s < 8; s++) c1[s] = (c[0][s] + c[2][s]) + (c[1][s] + c[3][s]);
    sum += double(hsum<8>(c1));
  }
  for (; i < k; i++) sum += double(a[i] * b[i]);
  return float(sum);
}

// ggml_v_expf, one lane. Both builds evaluate the same polynomial on the same reduced argument; they
// differ in the last steps. AVX-512: j = p(b) + 1 scaled by 2^n (vscalefps), 0 / inf past |n| > 192.
SPOGW_INLINE float expf_v16(float x) {
  const float r = 0x1.8p23f;
  const float n = std::fma(x, 0x1.715476p+0f, r) - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                           std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, int(n));  // n is integral here
}

// AVX2: j = p(b) without the 1, result k + j k with k = 2^n built from the bits of z; past |n| > 126
// the scale is split in two factors, and past 192 the result is s1 * s1 (0 or inf).
SPOGW_INLINE float expf_v8(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = f32_bits(z) << 23;
  const float k = from_bits(e + f32_bits(1.0f));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                           0x1.ffffecp-1f * b);
  if (!(std::fabs(n) > 126.0f)) return std::fma(j, k, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = from_bits(g + 0x7f000000u);
  const float s2 = from_bits(e - g);
  if (std::fabs(n) > 192.0f) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

template <int L>
SPOGW_INLINE float silu_v(float x) {
  return x / (1.0f + (L == 16 ? expf_v16(0.0f - x) : expf_v8(0.0f - x)));
}

float silu_scalar(float x) { return x / (1.0f + std::exp(-x)); }  // ggml_silu_f32: libm expf

// ggml_vec_soft_max_f32's exponentials in L-wide blocks, each block reduced by hsum, summed in double.
template <int L>
SPOGW_AVX2_CLONE double exp_blocks_portable(float* row, int64_t n, float max) {
  double sum = 0.0;
  for (int64_t b = 0; b < n; b += L) {
    float lanes[L] = {};
    for (int64_t j = b; j < std::min<int64_t>(b + L, n); j++)
      lanes[j - b] = row[j] = L == 16 ? expf_v16(row[j] - max) : expf_v8(row[j] - max);
    sum += double(hsum<L>(lanes));
  }
  return sum;
}

// ggml_vec_swiglu_f32 from position i: ggml_v_silu over whole L-wide blocks, libm for the tail.
template <int L>
SPOGW_AVX2_CLONE void swiglu_portable(const float* gate, const float* up, int64_t i, int64_t n, float* out) {
  const int64_t vec_end = n / L * L;
  for (; i < vec_end; i++) out[i] = silu_v<L>(gate[i]) * up[i];
  for (; i < n; i++) out[i] = silu_scalar(gate[i]) * up[i];
}

// tinyBLAS's gemm_bloc: 4 rows of W against rn rows of x, each output its own accumulator.
template <int L>
SPOGW_AVX2_CLONE void tile_portable(const float* W, int64_t ldw, const float* x, int64_t ldx, int64_t k, int rn, bool bf16_pairs, float* y,
                                    int64_t ldy) {
  for (int j = 0; j < rn; j++)
    for (int i = 0; i < 4; i++)
      y[j * ldy + i] = bf16_pairs ? tiny_dot_bf16_pairs(W + i * ldw, x + j * ldx, k) : tiny_dot<L>(W + i * ldw, x + j * ldx, k);
}

SPOGW_AVX2_CLONE float dot_q8_0_portable(Q8Row a, Q8Row b, int64_t k) {
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
  return hsum<8>(acc);
}

}  // namespace

float hsum_float_8(const float* v) { return hsum<8>(v); }

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

// ---- which build, which kernels --------------------------------------------------------------------

namespace {

// SPOGW_KERNELS (read once; tests set it per process): auto = this CPU's SIMD kernels for the build it
// reproduces, OpenBLAS products where no build is reproduced; portable = the portable kernels; blas =
// OpenBLAS products on any CPU.
std::atomic<KernelMode> g_mode{[] {
  const char* v = std::getenv("SPOGW_KERNELS");
  if (v != nullptr && std::strcmp(v, "portable") == 0) return KernelMode::kPortable;
  if (v != nullptr && std::strcmp(v, "blas") == 0) return KernelMode::kBlas;
  return KernelMode::kAuto;
}()};

// The ggml build llama.cpp loads on this CPU (its best-scoring CPU variant): AVX-512F -> 16-float
// vectors, with AVX512-BF16 dot pairs where the CPU has them; AVX2 + FMA + F16C -> 8; anything else
// is not reproduced. SPOGW_GGML_BUILD=avx512bf16|avx512|avx2 overrides (the lab, and tests that run
// another build's arithmetic on this machine).
const Build g_build = [] {
  const char* v = std::getenv("SPOGW_GGML_BUILD");
  if (v != nullptr && std::strcmp(v, "avx512bf16") == 0) return Build::kAvx512Bf16;
  if (v != nullptr && std::strcmp(v, "avx512") == 0) return Build::kAvx512;
  if (v != nullptr && std::strcmp(v, "avx2") == 0) return Build::kAvx2;
  if (avx512::available()) return avx512::has_bf16() ? Build::kAvx512Bf16 : Build::kAvx512;
  if (avx2::available()) return Build::kAvx2;
  return Build::kNone;
}();

KernelMode mode() { return g_mode.load(std::memory_order_relaxed); }
bool use_blas() { return mode() == KernelMode::kBlas || (mode() == KernelMode::kAuto && build() == Build::kNone); }
bool avx512_build() { return build() != Build::kAvx2; }  // kNone runs the AVX-512 arithmetic when forced portable
// SIMD kernels of the reproduced build, when this CPU has them and they are not switched off.
bool simd16() { return mode() == KernelMode::kAuto && (build() == Build::kAvx512 || build() == Build::kAvx512Bf16) && avx512::available(); }
// BF16 products as AVX512-BF16 dot pairs (else plain FMAs on BF16 values converted to float).
bool bf16_pairs() { return build() == Build::kAvx512Bf16 || build() == Build::kNone; }
bool simd8() { return mode() == KernelMode::kAuto && build() == Build::kAvx2 && avx2::available(); }

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// Rows as the AVX-512 kernel wants them: starting on a cache line, with a stride of whole lines, so
// no vector load straddles two lines (which costs Zen 4 about 40% of the product's speed). Weights
// are allocated aligned; anything else (a transposed value cache, LoRA factors) is copied into `buf`.
const float* aligned_rows(const float* p, int64_t rows, int64_t ld, int64_t k, AlignedFloats& buf, int64_t* ld_out) {
  if (reinterpret_cast<uintptr_t>(p) % 64 == 0 && ld % 16 == 0) {
    *ld_out = ld;
    return p;
  }
  buf.resize(size_t(rows * k));
  for (int64_t r = 0; r < rows; r++) std::memcpy(buf.data() + r * k, p + r * ld, size_t(k) * sizeof(float));
  *ld_out = k;
  return buf.data();
}

// x rows [t0, t1) packed for the SIMD tiles in groups of `group` rows: each group's chunks of `chunk`
// values interleaved row after row. bf16_pairs: 32-value chunks, each stored as its odd-indexed
// values, then its even-indexed ones (the two halves of a dot-pair step).
void pack_groups(const float* x, int64_t ldx, int64_t t0, int64_t t1, int64_t k, int64_t group, int64_t chunk, bool bf16_pairs,
                 AlignedFloats& buf) {
  buf.resize(size_t((t1 - t0) * k));
  for (int64_t g = t0; g < t1; g += group) {
    const int64_t rn = std::min(group, t1 - g);
    float* out = buf.data() + (g - t0) * k;
    for (int64_t l = 0; l < k; l += chunk)
      for (int64_t j = 0; j < rn; j++, out += chunk) {
        const float* in = x + (g + j) * ldx + l;
        if (!bf16_pairs) {
          std::memcpy(out, in, size_t(chunk) * sizeof(float));
          continue;
        }
        for (int s = 0; s < 16; s++) {
          out[s] = in[2 * s + 1];
          out[16 + s] = in[2 * s];
        }
      }
  }
}

// y[t * ldy + o] over 4-row tiles of W (m % 4 == 0) and groups of x rows, in blocks of x rows that stay
// in cache while W streams past. k is a multiple of the build's tinyBLAS step. causal: row t of x is
// zero past its limit past + t, so a group stops at the next whole chunk (the rest would add exact
// zeros: each output has its own accumulator, so where a group stops changes no output's bits).
void tinyblas_product(const float* W, int64_t ldw, int64_t m, const float* x, int64_t ldx, int64_t n, int64_t k, bool causal,
                      int64_t past, bool bf16, float* y, int64_t ldy) {
  if (use_blas()) {
    // No ggml build reproduced here: OpenBLAS (fast; within float32 rounding of llama.cpp). Causal
    // rows are zero past their limit, so the full k adds nothing.
    gemm(false, true, n, m, k, 1.0f, x, ldx, W, ldw, 0.0f, y, ldy);
    return;
  }
  const bool lanes16 = avx512_build();
  const bool pairs = bf16 && bf16_pairs();  // otherwise BF16 tinyBLAS is the plain L-lane one
  const bool fast = lanes16 ? simd16() : simd8();
  const int64_t chunk = pairs ? 32 : lanes16 ? 16 : 8;
  const int64_t group = pairs ? 4 : lanes16 ? 6 : 3;
  thread_local AlignedFloats w_buf, x_buf;
  if (fast) W = aligned_rows(W, m, ldw, k, w_buf, &ldw);
  constexpr int64_t kRowBlock = 256;
  for (int64_t tb = 0; tb < n; tb += kRowBlock) {
    const int64_t te = std::min(n, tb + kRowBlock);
    if (fast) pack_groups(x, ldx, tb, te, k, group, chunk, pairs, x_buf);
    const float* packed = x_buf.data();  // thread_local: the workers must not name x_buf themselves
    parallel_for(m / 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++)
        for (int64_t t = tb; t < te; t += group) {
          const int rn = int(std::min(group, te - t));
          const int64_t kk = causal ? std::min(k, round_up(past + t + rn, chunk)) : k;
          const float* w = W + i * 4 * ldw;
          float* yt = y + t * ldy + i * 4;
          if (fast && pairs)
            avx512::tile_bf16(w, ldw, packed + (t - tb) * k, kk, rn, yt, ldy);
          else if (fast && lanes16)
            avx512::tile(w, ldw, packed + (t - tb) * k, kk, rn, yt, ldy);
          else if (fast)
            avx2::tile(w, ldw, packed + (t - tb) * k, kk, rn, yt, ldy);
          else if (lanes16)
            tile_portable<16>(w, ldw, x + t * ldx, ldx, kk, rn, pairs, yt, ldy);
          else
            tile_portable<8>(w, ldw, x + t * ldx, ldx, kk, rn, false, yt, ldy);
        }
    });
  }
}

}  // namespace

Build build() { return g_build; }
void set_kernel_mode(KernelMode m) { g_mode = m; }
KernelMode kernel_mode() { return mode(); }
int lanes() { return avx512_build() ? 16 : 8; }
bool exact_llama_cpp_numerics() { return !use_blas() && build() != Build::kNone; }

float dot_tinyblas(const float* a, const float* b, int64_t k) { return avx512_build() ? tiny_dot<16>(a, b, k) : tiny_dot<8>(a, b, k); }

float dot_vec_f32(const float* a, const float* b, int64_t k) {
  if (simd16()) return avx512::dot_vec_f32(a, b, k);
  return avx512_build() ? vec_dot_f32<16>(a, b, k) : vec_dot_f32<8>(a, b, k);
}

bool keys_at_once(int64_t k) { return simd16() && k > 0 && k % 64 == 0; }

void dot_vec_f32_keys(const float* q, const float* Kt, int64_t ldkt, int64_t n, int64_t k, float* out) {
  if (keys_at_once(k)) return avx512::dot_vec_f32_keys(q, Kt, ldkt, n, k, out);
  std::vector<float> key(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; j++) {
    for (int64_t e = 0; e < k; e++) key[size_t(e)] = Kt[e * ldkt + j];
    out[j] = dot_vec_f32(key.data(), q, k);
  }
}

double exp_blocks(float* row, int64_t n, float max) {
  if (simd16()) return avx512::exp_blocks(row, n, max);
  return avx512_build() ? exp_blocks_portable<16>(row, n, max) : exp_blocks_portable<8>(row, n, max);
}

void swiglu_row(const float* gate, const float* up, int64_t n, float* out) {
  if (!avx512_build()) return swiglu_portable<8>(gate, up, 0, n, out);
  swiglu_portable<16>(gate, up, simd16() ? avx512::swiglu_blocks(gate, up, n, out) : 0, n, out);
}

void mul_mat(const float* W, int64_t m, int64_t k, const float* x, int64_t n, DotType type, float* y, int64_t ldy) {
  // ggml_compute_forward_mul_mat: llamafile_sgemm (tinyBLAS) takes the product when it can;
  // otherwise each output is one vec_dot of the weight's type.
  const bool lanes16 = avx512_build();
  const int64_t step = type == DotType::kBF16 && bf16_pairs() ? 32 : lanes();
  const bool tinyblas = n >= 2 && k % step == 0 && m % 4 == 0;
  if (tinyblas || use_blas()) return tinyblas_product(W, k, m, x, k, n, k, false, 0, type == DotType::kBF16, y, ldy);
  parallel_for(m, [&](int64_t o0, int64_t o1) {
    for (int64_t t = 0; t < n; t++)
      for (int64_t o = o0; o < o1; o++) {
        const float* a = W + o * k;
        const float* b = x + t * k;
        float& out = y[t * ldy + o];
        switch (type) {
          case DotType::kF32: out = dot_vec_f32(a, b, k); break;
          case DotType::kF16: out = lanes16 ? vec_dot_f16<16>(a, b, k) : vec_dot_f16<8>(a, b, k); break;
          case DotType::kBF16: out = bf16_pairs() ? vec_dot_bf16<32>(a, b, k) : lanes16 ? vec_dot_bf16<16>(a, b, k) : vec_dot_bf16<8>(a, b, k); break;
        }
      }
  });
}

void mul_mat_causal(const float* W, int64_t m, int64_t ldw, const float* x, int64_t n, int64_t ldx, int64_t past, bool batched,
                    float* y, int64_t ldy) {
  if ((batched && m % 4 == 0) || use_blas()) return tinyblas_product(W, ldw, m, x, ldx, n, ldw, true, past, false, y, ldy);
  // ggml_vec_dot_f32 over whole 64-float steps of the zero-padded rows (ldx must allow it).
  parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++)
      for (int64_t o = 0; o < m; o++) y[t * ldy + o] = dot_vec_f32(W + o * ldw, x + t * ldx, std::min(ldx, round_up(past + t + 1, 64)));
  });
}

void mul_mat_q8_0(Q8Row W, int64_t m, int64_t k, Q8Row x, int64_t n, float* y, int64_t ldy) {
  // Both builds compute Q8_0 products the same way (exact integer sums, 8 float lanes).
  const int64_t blocks = k / 32;
  const bool fast = avx2::available() && mode() != KernelMode::kPortable;
  // Tiles of 4 weight rows by 2 activation rows (any m and n: the edges take single dots).
  parallel_for((m + 3) / 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      const int64_t o = i * 4;
      for (int64_t t = 0; t < n; t += 2) {
        const int rn = int(std::min<int64_t>(2, n - t));
        if (fast && o + 4 <= m) {
          avx2::q8_0_tile(W.q + o * k, W.d + o * blocks, x.q + t * k, x.d + t * blocks, k, rn, y + t * ldy + o, ldy);
          continue;
        }
        for (int64_t tt = t; tt < t + rn; tt++)
          for (int64_t oo = o; oo < std::min(m, o + 4); oo++)
            y[tt * ldy + oo] = dot_q8_0_portable({W.q + oo * k, W.d + oo * blocks}, {x.q + tt * k, x.d + tt * blocks}, k);
      }
    }
  });
}

}  // namespace spogw::ggml
