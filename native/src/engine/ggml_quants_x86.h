// AVX2 versions of ggml_quants' integer dot products (private to the engine). Integer sums are exact,
// so these give the same values as the portable loops in ggml_quants.cc; call them only when
// available() says the CPU has AVX2.
//
// A decoded weight row q (int8 in [-127, 127]; `unsigned_q`: in [0, 127]) meets up to 4 activation
// rows y[j] (int8 Q8 levels in [-127, 127]) at once, so each weight chunk is loaded once for all of
// them. Each 16 values have an int16 scale: 32-value chunk c uses scale16[2c] for its values 0..15 and
// scale16[2c + 1] for 16..31.
#pragma once
#include <cstdint>

namespace spogw::ggml::quants_avx2 {

bool available();

// For each block b of `chunks` chunks and activation row j < nt (1..4):
//   lanes[j][8b + l] = sum over the block's chunks c of scale16[2c + l / 4] * sum_{u < 4} q[32c + 4l + u] y[j][32c + 4l + u]
// (the 8 int32 lanes of ggml's AVX2 kernels).
void row_lanes(const int8_t* q, const int16_t* scale16, bool unsigned_q, const int8_t* const* y, int nt, int64_t blocks, int chunks,
               int32_t* const* lanes);

// Eight rows q[r] (scales scale16[r]) against activation rows y[j], j < nt (1..4): out[j][8s + r] =
// the total of row r's scaled products with y[j] over step s, each step `chunks` chunks long (the
// repacked kernels' integer sums).
void rows8_step_dots(const int8_t* const* q, const int16_t* const* scale16, bool unsigned_q, const int8_t* const* y, int nt, int64_t steps,
                     int chunks, int32_t* const* out);

// acc[l] = fma(scales[b], float(lanes[8b + l]), acc[l]) for l < 8, blocks b in order (the vec_dot
// kernels' float accumulation; the same roundings as the portable loop).
void fma_lanes(const int32_t* lanes, const float* scales, int64_t blocks, float* acc);

}  // namespace spogw::ggml::quants_avx2
