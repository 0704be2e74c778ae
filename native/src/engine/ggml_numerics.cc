#include "spogw/engine/ggml_numerics.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>

#include "ggml_numerics_x86.h"
#include "spogw/aligned_vector.h"
#include "spogw/gemm.h"
#include "spogw/threads.h"

// The portable kernels' hot loops are also compiled for AVX2 + FMA and picked at load time, so that a
// binary built for an older baseline (the x86-64-v2 prebuild) does not call libm's fmaf per element on
// a CPU without AVX-512. Same operations, same order: only the instructions differ.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SPOGW_AVX2_CLONE __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SPOGW_AVX2_CLONE
#endif
// Helpers the clones inline (a call would run the baseline build of the helper).
#define SPOGW_INLINE inline __attribute__((always_inline))

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

namespace {

SPOGW_INLINE float reduce_lanes_inl(const float* v) {
  float h[8], q[4];
  for (int i = 0; i < 8; i++) h[i] = v[i + 8] + v[i];
  for (int i = 0; i < 4; i++) q[i] = h[i + 4] + h[i];
  return (q[0] + q[2]) + (q[1] + q[3]);
}

SPOGW_INLINE float dot_tinyblas_inl(const float* a, const float* b, int64_t k) {
  float acc[kLanes] = {};
  for (int64_t l = 0; l < k; l += kLanes)
    for (int s = 0; s < kLanes; s++) acc[s] = std::fma(a[l + s], b[l + s], acc[s]);
  return reduce_lanes_inl(acc);
}

SPOGW_INLINE float dot_tinyblas_bf16_inl(const float* a, const float* b, int64_t k) {
  float acc[kLanes] = {};
  for (int64_t l = 0; l < k; l += 2 * kLanes)
    for (int s = 0; s < kLanes; s++) {
      acc[s] = std::fma(a[l + 2 * s + 1], b[l + 2 * s + 1], acc[s]);  // exact products: fma = add
      acc[s] = std::fma(a[l + 2 * s], b[l + 2 * s], acc[s]);
    }
  return reduce_lanes_inl(acc);
}

SPOGW_INLINE float expf_simd_inl(float x) {
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

SPOGW_INLINE float silu_simd_inl(float x) { return x / (1.0f + expf_simd_inl(0.0f - x)); }

}  // namespace

float reduce_lanes(const float* v) { return reduce_lanes_inl(v); }
float dot_tinyblas(const float* a, const float* b, int64_t k) { return dot_tinyblas_inl(a, b, k); }

namespace {

// The 64-float steps shared by ggml_vec_dot_f32 and ggml_vec_dot_f16 (GGML_F32_STEP = 64, four
// accumulators of 16, GGML_F32_VEC_REDUCE). Returns the reduced float; *done = floats consumed.
SPOGW_INLINE float vec_dot_steps(const float* a, const float* b, int64_t k, int64_t* done) {
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
  return reduce_lanes_inl(acc[0]);
}

}  // namespace

SPOGW_AVX2_CLONE float dot_vec_f32_portable(const float* a, const float* b, int64_t k) {
  int64_t i = 0;
  float sum = vec_dot_steps(a, b, k, &i);
  // ggml's `sumf += x[i]*y[i]` tail as its compiler built it (measured for k = 1..300 against the
  // shipped library, native/dev/ggml): unrolled by 8 with product then sum, then the last k % 8 fused.
  const int64_t unrolled_end = i + (k - i) / 8 * 8;
  for (; i < unrolled_end; i++) sum += a[i] * b[i];
  for (; i < k; i++) sum = std::fma(a[i], b[i], sum);
  return sum;
}

SPOGW_AVX2_CLONE float dot_vec_f16(const float* a, const float* b, int64_t k) {
  int64_t i = 0;
  double sum = vec_dot_steps(a, b, k, &i);
  for (; i < k; i++) sum += double(a[i] * b[i]);  // F16 x F16 products are exact in float
  return float(sum);
}

float dot_tinyblas_bf16(const float* a, const float* b, int64_t k) { return dot_tinyblas_bf16_inl(a, b, k); }

SPOGW_AVX2_CLONE float dot_vec_bf16(const float* a, const float* b, int64_t k) {
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
  sum += double(reduce_lanes_inl(c1));
  sum += double(reduce_lanes_inl(c2));
  for (; i < k; i++) sum += double(a[i] * b[i]);
  return float(sum);
}

namespace {

// hsum of a __m256 (tinyBLAS's hsum, hsum_float_8 in ggml's x86 quants): halves, then pairs.
SPOGW_INLINE float reduce_8(const float* v) {
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

SPOGW_AVX2_CLONE float dot_q8_0(Q8Row a, Q8Row b, int64_t k) {
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

float expf_simd(float x) { return expf_simd_inl(x); }
float silu_simd(float x) { return silu_simd_inl(x); }

float silu_scalar(float x) { return x / (1.0f + std::exp(-x)); }

// ---- dispatch between the portable kernels and their AVX-512 versions -----------------------------

namespace {

// Which kernels run (SPOGW_KERNELS, read once; tests set it per process): auto = the SIMD kernels
// this CPU has, BLAS products without AVX-512; portable = the exact portable kernels everywhere; blas
// = what a CPU without AVX-512 runs, on any CPU.
std::atomic<KernelMode> g_mode{[] {
  const char* v = std::getenv("SPOGW_KERNELS");
  if (v != nullptr && std::strcmp(v, "portable") == 0) return KernelMode::kPortable;
  if (v != nullptr && std::strcmp(v, "blas") == 0) return KernelMode::kBlas;
  return KernelMode::kAuto;
}()};

KernelMode mode() { return g_mode.load(std::memory_order_relaxed); }

bool use_avx512() { return avx512::available() && mode() != KernelMode::kPortable && mode() != KernelMode::kBlas; }

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// tinyBLAS's gemm_bloc, portable: 4 rows of W against rn rows of x, each output its own 16-lane
// accumulator over the whole of k.
SPOGW_AVX2_CLONE void tile_portable(const float* W, int64_t ldw, const float* x, int64_t ldx, int64_t k, int rn, bool bf16, float* y, int64_t ldy) {
  for (int j = 0; j < rn; j++)
    for (int i = 0; i < 4; i++)
      y[j * ldy + i] = bf16 ? dot_tinyblas_bf16_inl(W + i * ldw, x + j * ldx, k) : dot_tinyblas_inl(W + i * ldw, x + j * ldx, k);
}

// Rows as the AVX-512 kernel wants them: starting on a cache line, with a stride of whole lines, so
// no vector load straddles two lines (which costs Zen 4 about 40% of the product's speed). Weights
// are allocated aligned; anything else (a transposed value cache, LoRA factors) is copied into `buf`.
const float* aligned_rows(const float* p, int64_t rows, int64_t ld, int64_t k, AlignedFloats& buf, int64_t* ld_out) {
  if (reinterpret_cast<uintptr_t>(p) % 64 == 0 && ld % kLanes == 0) {
    *ld_out = ld;
    return p;
  }
  buf.resize(size_t(rows * k));
  for (int64_t r = 0; r < rows; r++) std::memcpy(buf.data() + r * k, p + r * ld, size_t(k) * sizeof(float));
  *ld_out = k;
  return buf.data();
}

// x rows [t0, t1) packed for the AVX-512 tiles in groups of `group` rows: each group's chunks
// interleaved row after row. bf16: 32-value chunks, each stored as its odd-indexed values, then its
// even-indexed ones (the two halves of a dot-pair step).
void pack_groups(const float* x, int64_t ldx, int64_t t0, int64_t t1, int64_t k, int64_t group, bool bf16, AlignedFloats& buf) {
  const int64_t chunk = bf16 ? 2 * kLanes : kLanes;
  buf.resize(size_t((t1 - t0) * k));
  for (int64_t g = t0; g < t1; g += group) {
    const int64_t rn = std::min(group, t1 - g);
    float* out = buf.data() + (g - t0) * k;
    for (int64_t l = 0; l < k; l += chunk)
      for (int64_t j = 0; j < rn; j++, out += chunk) {
        const float* in = x + (g + j) * ldx + l;
        if (!bf16) {
          std::memcpy(out, in, kLanes * sizeof(float));
          continue;
        }
        for (int s = 0; s < kLanes; s++) {
          out[s] = in[2 * s + 1];
          out[kLanes + s] = in[2 * s];
        }
      }
  }
}

// y[t * ldy + o] over 4-row tiles of W (m % 4 == 0) and groups of x rows (6, or 4 for BF16), in
// blocks of x rows that stay in cache while W streams past. k is a multiple of the step (16, or 32
// for BF16). causal: row t of x is zero past round_up(t + 1, 16), so a group stops there (the
// skipped chunks would add exact zeros).
void tinyblas_product(const float* W, int64_t ldw, int64_t m, const float* x, int64_t ldx, int64_t n, int64_t k, bool causal, bool bf16,
                      float* y, int64_t ldy) {
  const bool fast = use_avx512();
  if (!fast && mode() != KernelMode::kPortable) {
    // No AVX-512: llama.cpp itself runs its 8-lane build here, whose sums the 16-lane order does not
    // reproduce either, so the product goes to OpenBLAS (fast; within float32 rounding of llama.cpp).
    // Causal rows are zero past their limit, so the full k adds nothing.
    gemm(false, true, n, m, k, 1.0f, x, ldx, W, ldw, 0.0f, y, ldy);
    return;
  }
  thread_local AlignedFloats w_buf, x_buf;
  if (fast) W = aligned_rows(W, m, ldw, k, w_buf, &ldw);
  constexpr int64_t kRowBlock = 256;
  const int64_t group = bf16 ? 4 : 6;
  for (int64_t tb = 0; tb < n; tb += kRowBlock) {
    const int64_t te = std::min(n, tb + kRowBlock);
    if (fast) pack_groups(x, ldx, tb, te, k, group, bf16, x_buf);
    const float* packed = x_buf.data();  // thread_local: the workers must not name x_buf themselves
    parallel_for(m / 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++)
        for (int64_t t = tb; t < te; t += group) {
          const int rn = int(std::min(group, te - t));
          const int64_t kk = causal ? std::min(k, round_up(t + rn, kLanes)) : k;
          float* yt = y + t * ldy + i * 4;
          if (fast && bf16)
            avx512::tile_bf16(W + i * 4 * ldw, ldw, packed + (t - tb) * k, kk, rn, yt, ldy);
          else if (fast)
            avx512::tile(W + i * 4 * ldw, ldw, packed + (t - tb) * k, kk, rn, yt, ldy);
          else
            tile_portable(W + i * 4 * ldw, ldw, x + t * ldx, ldx, kk, rn, bf16, yt, ldy);
        }
    });
  }
}

}  // namespace

void set_kernel_mode(KernelMode m) { g_mode = m; }
bool avx512_kernels_available() { return avx512::available(); }
bool exact_llama_cpp_numerics() { return use_avx512() || mode() == KernelMode::kPortable; }

float dot_vec_f32(const float* a, const float* b, int64_t k) {
  return use_avx512() ? avx512::dot_vec_f32(a, b, k) : dot_vec_f32_portable(a, b, k);
}

namespace {

SPOGW_AVX2_CLONE double exp_blocks_portable(float* row, int64_t n, float max) {
  double sum = 0.0;
  for (int64_t b = 0; b < n; b += kLanes) {
    float lanes[kLanes] = {};
    for (int64_t j = b; j < std::min(b + kLanes, n); j++) lanes[j - b] = row[j] = expf_simd_inl(row[j] - max);
    sum += double(reduce_lanes_inl(lanes));
  }
  return sum;
}

SPOGW_AVX2_CLONE void swiglu_portable(const float* gate, const float* up, int64_t i, int64_t n, float* out) {
  const int64_t vec_end = n / kLanes * kLanes;
  for (; i < vec_end; i++) out[i] = silu_simd_inl(gate[i]) * up[i];
  for (; i < n; i++) out[i] = silu_scalar(gate[i]) * up[i];
}

}  // namespace

double exp_blocks(float* row, int64_t n, float max) {
  return use_avx512() ? avx512::exp_blocks(row, n, max) : exp_blocks_portable(row, n, max);
}

void swiglu_row(const float* gate, const float* up, int64_t n, float* out) {
  swiglu_portable(gate, up, use_avx512() ? avx512::swiglu_blocks(gate, up, n, out) : 0, n, out);
}

void mul_mat(const float* W, int64_t m, int64_t k, const float* x, int64_t n, DotType type, float* y, int64_t ldy) {
  // ggml_compute_forward_mul_mat: llamafile_sgemm (tinyBLAS) takes the product when it can;
  // otherwise each output is one vec_dot of the weight's type.
  const int64_t step = type == DotType::kBF16 ? 2 * kLanes : kLanes;
  const bool tinyblas = n >= 2 && k % step == 0 && m % 4 == 0;
  if (tinyblas) return tinyblas_product(W, k, m, x, k, n, k, false, type == DotType::kBF16, y, ldy);
  parallel_for(m, [&](int64_t o0, int64_t o1) {
    for (int64_t t = 0; t < n; t++)
      for (int64_t o = o0; o < o1; o++) {
        const float* a = W + o * k;
        const float* b = x + t * k;
        switch (type) {
          case DotType::kF32: y[t * ldy + o] = dot_vec_f32(a, b, k); break;
          case DotType::kF16: y[t * ldy + o] = dot_vec_f16(a, b, k); break;
          case DotType::kBF16: y[t * ldy + o] = dot_vec_bf16(a, b, k); break;
        }
      }
  });
}

void mul_mat_causal(const float* W, int64_t m, int64_t ldw, const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy) {
  if (n >= 2 && m % 4 == 0) return tinyblas_product(W, ldw, m, x, ldx, n, ldw, true, false, y, ldy);
  // ggml_vec_dot_f32 over whole 64-float steps of the zero-padded rows (ldx must allow it).
  parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++)
      for (int64_t o = 0; o < m; o++) y[t * ldy + o] = dot_vec_f32(W + o * ldw, x + t * ldx, std::min(ldx, round_up(t + 1, 64)));
  });
}

void mul_mat_q8_0(Q8Row W, int64_t m, int64_t k, Q8Row x, int64_t n, float* y, int64_t ldy) {
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
            y[tt * ldy + oo] = dot_q8_0({W.q + oo * k, W.d + oo * blocks}, {x.q + tt * k, x.d + tt * blocks}, k);
      }
    }
  });
}

}  // namespace spogw::ggml
