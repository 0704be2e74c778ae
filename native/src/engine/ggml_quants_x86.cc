#include "ggml_quants_x86.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SPOGW_AVX2 __attribute__((target("avx2,fma")))

namespace spogw::ggml::quants_avx2 {

namespace {

// The scales of one chunk for _mm256_madd_epi16: scale16[0] for its first 8 int16 pair sums (values
// 0..15), scale16[1] for the next 8.
SPOGW_AVX2 inline __m256i chunk_scales(const int16_t* scale16) {
  return _mm256_set_m128i(_mm_set1_epi16(scale16[1]), _mm_set1_epi16(scale16[0]));
}

// The 8 int32 lanes of one chunk of weights w (as loaded) and activations y, times the chunk's scales:
// the 16 int16 sums of byte pairs of |w| * (y signed like w) (or w * y when w >= 0), which cannot
// overflow (|w|, |y| <= 127 give at most 32258), then pairs of those times their group's scale.
template <bool kUnsigned>
SPOGW_AVX2 inline __m256i scaled_dot(__m256i w_abs, __m256i w, const int8_t* y, __m256i scales) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y));
  const __m256i pairs = _mm256_maddubs_epi16(w_abs, kUnsigned ? v : _mm256_sign_epi8(v, w));
  return _mm256_madd_epi16(pairs, scales);
}

// acc[j] += the chunk's lanes against y[j] + at, for j < NT, loading the weight chunk once.
template <int NT, bool kUnsigned>
SPOGW_AVX2 inline void chunk_into(const int8_t* q, const int16_t* scale16, const int8_t* const* y, int64_t at, __m256i* acc) {
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256i w_abs = kUnsigned ? w : _mm256_sign_epi8(w, w);
  const __m256i scales = chunk_scales(scale16);
#pragma GCC unroll 4
  for (int j = 0; j < NT; j++) acc[j] = _mm256_add_epi32(acc[j], scaled_dot<kUnsigned>(w_abs, w, y[j] + at, scales));
}

template <int NT, bool kUnsigned>
SPOGW_AVX2 void row_lanes_t(const int8_t* q, const int16_t* scale16, const int8_t* const* y, int64_t blocks, int chunks, int32_t* const* lanes) {
  for (int64_t b = 0; b < blocks; b++) {
    __m256i acc[NT];
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++) acc[j] = _mm256_setzero_si256();
    for (int c = 0; c < chunks; c++) {
      const int64_t chunk = b * chunks + c;
      chunk_into<NT, kUnsigned>(q + 32 * chunk, scale16 + 2 * chunk, y, 32 * chunk, acc);
    }
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes[j] + 8 * b), acc[j]);
  }
}

// Lane r of the result: the sum of v[r]'s 8 lanes.
SPOGW_AVX2 inline __m256i transpose_sums(const __m256i* v) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

template <int NT, bool kUnsigned>
SPOGW_AVX2 void rows8_step_dots_t(const int8_t* const* q, const int16_t* const* scale16, const int8_t* const* y, int64_t steps, int chunks,
                                  int32_t* const* out) {
  for (int64_t s = 0; s < steps; s++) {
    __m256i v[NT][8];
    for (int r = 0; r < 8; r++) {
      __m256i acc[NT];
#pragma GCC unroll 4
      for (int j = 0; j < NT; j++) acc[j] = _mm256_setzero_si256();
      for (int c = 0; c < chunks; c++) {
        const int64_t chunk = s * chunks + c;
        chunk_into<NT, kUnsigned>(q[r] + 32 * chunk, scale16[r] + 2 * chunk, y, 32 * chunk, acc);
      }
#pragma GCC unroll 4
      for (int j = 0; j < NT; j++) v[j][r] = acc[j];
    }
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[j] + 8 * s), transpose_sums(v[j]));
  }
}

// Dispatch on the row count (1..4) and the sign of the weights.
template <template <int, bool> class K, class... Args>
void dispatch(int nt, bool unsigned_q, Args... args) {
  switch (nt * 2 + (unsigned_q ? 1 : 0)) {
    case 2: return K<1, false>::run(args...);
    case 3: return K<1, true>::run(args...);
    case 4: return K<2, false>::run(args...);
    case 5: return K<2, true>::run(args...);
    case 6: return K<3, false>::run(args...);
    case 7: return K<3, true>::run(args...);
    case 8: return K<4, false>::run(args...);
    default: return K<4, true>::run(args...);
  }
}

template <int NT, bool U>
struct RowLanes {
  static void run(const int8_t* q, const int16_t* sc, const int8_t* const* y, int64_t blocks, int chunks, int32_t* const* lanes) {
    row_lanes_t<NT, U>(q, sc, y, blocks, chunks, lanes);
  }
};

template <int NT, bool U>
struct Rows8StepDots {
  static void run(const int8_t* const* q, const int16_t* const* sc, const int8_t* const* y, int64_t steps, int chunks, int32_t* const* out) {
    rows8_step_dots_t<NT, U>(q, sc, y, steps, chunks, out);
  }
};

}  // namespace

bool available() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

void row_lanes(const int8_t* q, const int16_t* scale16, bool unsigned_q, const int8_t* const* y, int nt, int64_t blocks, int chunks,
               int32_t* const* lanes) {
  dispatch<RowLanes>(nt, unsigned_q, q, scale16, y, blocks, chunks, lanes);
}

void rows8_step_dots(const int8_t* const* q, const int16_t* const* scale16, bool unsigned_q, const int8_t* const* y, int nt, int64_t steps,
                     int chunks, int32_t* const* out) {
  dispatch<Rows8StepDots>(nt, unsigned_q, q, scale16, y, steps, chunks, out);
}

SPOGW_AVX2 void fma_lanes(const int32_t* lanes, const float* scales, int64_t blocks, float* acc) {
  __m256 a = _mm256_loadu_ps(acc);
  for (int64_t b = 0; b < blocks; b++)
    a = _mm256_fmadd_ps(_mm256_set1_ps(scales[b]), _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes + 8 * b))), a);
  _mm256_storeu_ps(acc, a);
}

}  // namespace spogw::ggml::quants_avx2

#else  // not x86-64 with GCC/Clang: the portable loops run.

namespace spogw::ggml::quants_avx2 {
bool available() { return false; }
void row_lanes(const int8_t*, const int16_t*, bool, const int8_t* const*, int, int64_t, int, int32_t* const*) {}
void rows8_step_dots(const int8_t* const*, const int16_t* const*, bool, const int8_t* const*, int, int64_t, int, int32_t* const*) {}
void fma_lanes(const int32_t*, const float*, int64_t, float*) {}
}  // namespace spogw::ggml::quants_avx2

#endif
