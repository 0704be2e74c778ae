// Block-quantized weights and llama.cpp's arithmetic for their products (see ggml_quants.h for what is
// reproduced and why). This file holds the portable reference of every path: blocks are decoded to
// their integer quants and scales, the integer dot products are formed exactly, and the float steps
// follow ggml's kernels operation for operation (fused multiply-adds written as std::fma; the library
// is built with -ffp-contract=off, so nothing else is fused).
#include "spogw/engine/ggml_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ggml_numerics_x86.h"
#include "ggml_quants_x86.h"
#include "portable_clones.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/error.h"
#include "spogw/threads.h"

namespace spogw::ggml {

namespace {

constexpr int kQK = 256;  // values per K-quant super-block

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
float half_at(const uint8_t* p) { return f16_to_f32(u16_at(p)); }
bool half_finite(const uint8_t* p) { return ((u16_at(p) >> 10) & 0x1f) != 0x1f; }

// A weight row as the integer dot products see it: the quants, the integer scale and min of each 16
// values (K-quants; 1 and 0 for the 32-value types), and each block's float factors. Contiguous over
// the row, so the SIMD kernels run along it.
struct DecodedRow {
  std::vector<int8_t> q;       // [n]
  std::vector<int16_t> scale;  // [n / 16]
  std::vector<int16_t> min;    // [n / 16]
  std::vector<float> d;        // [blocks]: the block or super-block scale
  std::vector<float> dmin;     // [blocks]: K-quants: the super-block min scale; Q4_1/Q5_1: the block min m
  void decode(uint32_t type, const uint8_t* row, int64_t n);
};

// One block's slice of a DecodedRow.
struct Decoded {
  int8_t* q;
  int16_t* scale;
  int16_t* min;
  float& d;
  float& dmin;
};

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4 layout).
void scale_min_k4(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Decodes one block of `type` at b. Layouts (ggml-common.h), with i the value index in the block:
void decode(uint32_t type, const uint8_t* b, Decoded o) {
  switch (type) {
    case kQ4_0:  // d, qs[16]: i < 16 low nibbles, i >= 16 high nibbles; value q - 8
    case kQ4_1:  // d, m, qs[16]; value q (m added separately)
    {
      const uint8_t* qs = b + (type == kQ4_0 ? 2 : 4);
      const int off = type == kQ4_0 ? 8 : 0;
      for (int j = 0; j < 16; j++) {
        o.q[j] = int8_t((qs[j] & 0xF) - off);
        o.q[j + 16] = int8_t((qs[j] >> 4) - off);
      }
      o.d = half_at(b);
      o.dmin = type == kQ4_1 ? half_at(b + 2) : 0.0f;
      return;
    }
    case kQ5_0:  // d, qh (bit i = fifth bit of value i), qs[16]; value q - 16
    case kQ5_1:  // d, m, qh, qs[16]
    {
      const uint8_t* qh = b + (type == kQ5_0 ? 2 : 4);
      const uint8_t* qs = qh + 4;
      uint32_t h;
      std::memcpy(&h, qh, 4);
      const int off = type == kQ5_0 ? 16 : 0;
      for (int j = 0; j < 16; j++) {
        o.q[j] = int8_t(((qs[j] & 0xF) | (((h >> j) & 1) << 4)) - off);
        o.q[j + 16] = int8_t(((qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4)) - off);
      }
      o.d = half_at(b);
      o.dmin = type == kQ5_1 ? half_at(b + 2) : 0.0f;
      return;
    }
    case kQ2_K: {  // scales[16] (low nibble scale, high nibble min per 16 values), qs[64], d, dmin
      // Value 128 n + 32 s + l: bits 2s of qs[32 n + l].
      const uint8_t* qs = b + 16;
      for (int n = 0; n < 2; n++)
        for (int s = 0; s < 4; s++)
          for (int l = 0; l < 32; l++) o.q[128 * n + 32 * s + l] = int8_t((qs[32 * n + l] >> (2 * s)) & 3);
      for (int g = 0; g < 16; g++) {
        o.scale[g] = int16_t(b[g] & 0xF);
        o.min[g] = int16_t(b[g] >> 4);
      }
      o.d = half_at(b + 80);
      o.dmin = half_at(b + 82);
      return;
    }
    case kQ3_K: {  // hmask[32], qs[64], scales[12] (6-bit, offset 32), d; value (2 low bits) - 4 * !high bit
      const uint8_t* hm = b;
      const uint8_t* qs = b + 32;
      const uint8_t* sc = b + 96;
      for (int n = 0; n < 2; n++)
        for (int s = 0; s < 4; s++)
          for (int l = 0; l < 32; l++)
            o.q[128 * n + 32 * s + l] = int8_t(((qs[32 * n + l] >> (2 * s)) & 3) - 4 + 4 * ((hm[l] >> (4 * n + s)) & 1));
      for (int g = 0; g < 16; g++) {
        const int low4 = g < 8 ? sc[g] & 0xF : sc[g - 8] >> 4;
        const int high2 = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
        o.scale[g] = int16_t((low4 | (high2 << 4)) - 32);
      }
      o.d = half_at(b + 108);
      return;
    }
    case kQ4_K:  // d, dmin, scales[12] (6-bit scale and min per 32 values), qs[128], then for Q5_K qh[32]
    case kQ5_K: {
      const uint8_t* sc = b + 4;
      const uint8_t* qh = b + 16;
      const uint8_t* qs = b + (type == kQ4_K ? 16 : 48);
      for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++) {
          o.q[64 * j + l] = int8_t(qs[32 * j + l] & 0xF);
          o.q[64 * j + 32 + l] = int8_t(qs[32 * j + l] >> 4);
        }
      if (type == kQ5_K)
        for (int j = 0; j < 4; j++)
          for (int l = 0; l < 32; l++) {
            o.q[64 * j + l] = int8_t(o.q[64 * j + l] + (((qh[l] >> (2 * j)) & 1) << 4));
            o.q[64 * j + 32 + l] = int8_t(o.q[64 * j + 32 + l] + (((qh[l] >> (2 * j + 1)) & 1) << 4));
          }
      for (int j = 0; j < 8; j++) {
        int s, m;
        scale_min_k4(j, sc, &s, &m);
        o.scale[2 * j] = o.scale[2 * j + 1] = int16_t(s);
        o.min[2 * j] = o.min[2 * j + 1] = int16_t(m);
      }
      o.d = half_at(b);
      o.dmin = half_at(b + 2);
      return;
    }
    case kQ6_K: {  // ql[128], qh[64], scales[16] (int8), d; value (6 bits) - 32, kept raw here (0..63)
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      for (int n = 0; n < 2; n++)
        for (int l = 0; l < 32; l++) {
          const uint8_t lo0 = ql[64 * n + l], lo1 = ql[64 * n + 32 + l], h = qh[32 * n + l];
          o.q[128 * n + l] = int8_t((lo0 & 0xF) | ((h & 3) << 4));
          o.q[128 * n + 32 + l] = int8_t((lo1 & 0xF) | (((h >> 2) & 3) << 4));
          o.q[128 * n + 64 + l] = int8_t((lo0 >> 4) | (((h >> 4) & 3) << 4));
          o.q[128 * n + 96 + l] = int8_t((lo1 >> 4) | ((h >> 6) << 4));
        }
      for (int g = 0; g < 16; g++) o.scale[g] = int16_t(int8_t(b[192 + g]));
      o.d = half_at(b + 208);
      return;
    }
    default:
      throw Error("internal: decode of ggml type " + std::to_string(type));
  }
}

void DecodedRow::decode(uint32_t type, const uint8_t* row, int64_t n) {
  const BlockShape shape = block_shape(type);
  const int64_t blocks = n / shape.values;
  q.resize(size_t(n));
  scale.assign(size_t(n / 16), 1);
  min.assign(size_t(n / 16), 0);
  d.resize(size_t(blocks));
  dmin.assign(size_t(blocks), 0.0f);
  for (int64_t b = 0; b < blocks; b++)
    ggml::decode(type, row + b * shape.bytes, {q.data() + b * shape.values, scale.data() + b * shape.values / 16,
                                                min.data() + b * shape.values / 16, d[size_t(b)], dmin[size_t(b)]});
}

int32_t dot4(const int8_t* a, const int8_t* b) {
  return int32_t(a[0]) * b[0] + int32_t(a[1]) * b[1] + int32_t(a[2]) * b[2] + int32_t(a[3]) * b[3];
}

// The AVX2 kernels unless switched off (SPOGW_KERNELS=portable): integer sums are exact and the float
// steps are the same fused multiply-adds, so both give the same values.
bool use_simd() { return quants_avx2::available() && kernel_mode() != KernelMode::kPortable; }

// Whether a type's decoded quants are never negative (the SIMD kernels then skip the sign steps).
bool unsigned_quants(uint32_t type) { return type != kQ4_0 && type != kQ5_0 && type != kQ3_K; }

// The 8 integer lanes of ggml's AVX2 kernels for every block of a row, against activation rows y[j],
// j < nt (1..4): lane l of block b holds, for every 32-value chunk c of the block, the scale of its
// 16 values times the dot product of bytes 4l..4l+3 of the chunk. lanes[j]: [blocks, 8].
void row_lanes(uint32_t type, const DecodedRow& w, const int8_t* const* y, int nt, int64_t blocks, int values, int32_t* const* lanes) {
  if (use_simd()) return quants_avx2::row_lanes(w.q.data(), w.scale.data(), unsigned_quants(type), y, nt, blocks, values / 32, lanes);
  for (int j = 0; j < nt; j++)
    for (int64_t b = 0; b < blocks; b++) {
      const int8_t* q = w.q.data() + b * values;
      const int16_t* sc = w.scale.data() + b * values / 16;
      const int8_t* yb = y[j] + b * values;
      int32_t* lb = lanes[j] + 8 * b;
      for (int l = 0; l < 8; l++) lb[l] = 0;
      for (int c = 0; c < values / 32; c++)
        for (int l = 0; l < 8; l++) lb[l] += int32_t(sc[2 * c + l / 4]) * dot4(q + 32 * c + 4 * l, yb + 32 * c + 4 * l);
    }
}

// For 8 rows at once (repack.cpp's interleaving) and activation rows y[j], j < nt (1..4):
// out[j][8s + r] = the sum over values [step s, step s + 1) of row r's scale * q * y[j], exactly, for
// `steps` steps of `step` values. out[j]: [steps, 8].
void rows8_step_dots(uint32_t type, const DecodedRow* const* rows, const int8_t* const* y, int nt, int64_t steps, int step, int32_t* const* out) {
  if (use_simd()) {
    const int8_t* q[8];
    const int16_t* sc[8];
    for (int r = 0; r < 8; r++) {
      q[r] = rows[r]->q.data();
      sc[r] = rows[r]->scale.data();
    }
    return quants_avx2::rows8_step_dots(q, sc, unsigned_quants(type), y, nt, steps, step / 32, out);
  }
  for (int j = 0; j < nt; j++)
    for (int64_t s = 0; s < steps; s++)
      for (int r = 0; r < 8; r++) {
        int32_t sum = 0;
        for (int64_t i = s * step; i < (s + 1) * step; i++) sum += int32_t(rows[r]->scale[size_t(i / 16)]) * rows[r]->q[size_t(i)] * y[j][i];
        out[j][8 * s + r] = sum;
      }
}

// sum of mins times activation sums over the 16-value groups [g0, g1) (the Q8_K bsums).
int32_t mins_dot(const int16_t* min, const int16_t* bsums, int g0, int g1) {
  int32_t s = 0;
  for (int g = g0; g < g1; g++) s += int32_t(min[g]) * bsums[g];
  return s;
}

// acc[l] = fma(scales[b], float(lanes[8b + l]), acc[l]) over blocks b in order.
void fma_lanes(const int32_t* lanes, const float* scales, int64_t blocks, float* acc) {
  if (use_simd()) return quants_avx2::fma_lanes(lanes, scales, blocks, acc);
  for (int64_t b = 0; b < blocks; b++)
    for (int l = 0; l < 8; l++) acc[l] = std::fma(scales[b], float(lanes[8 * b + l]), acc[l]);
}

// Q4_1/Q5_1's min term: summs += m * s block by block (ggml's compiler fused it: measured in
// native/dev/ggml), added after the lanes' horizontal sum.
SPOGW_AVX2_CLONE float legacy_summs(const DecodedRow& w, int64_t blocks, const QuantizedActs& x, int64_t t) {
  float summs = 0.0f;
  for (int64_t b = 0; b < blocks; b++) summs = std::fma(w.dmin[size_t(b)], x.s[size_t(t * blocks + b)], summs);
  return summs;
}

// ggml_vec_dot_<type>_q8_<...> (AVX2 path; tinyBLAS sums Q4_0/Q5_0 the same way) of one decoded weight
// row with activation row t, from the row's integer lanes against it (row_lanes; adjusted here for
// Q6_K): 8 float lanes, each block adding scale x its integer lane, reduced by hsum_float_8; the min
// terms in their own accumulators (Q2_K: in the same lanes, before each block's main term). `scales`
// is scratch of `blocks` floats.
SPOGW_AVX2_CLONE float vec_dot(uint32_t type, const DecodedRow& w, int64_t blocks, const QuantizedActs& x, int64_t t, int32_t* lanes, float* scales) {
  const float* yd = x.d.data() + t * blocks;
  float acc[8] = {};
  float summs = 0.0f;   // Q4_1, Q5_1, Q5_K: scalar min term
  float acc_m[4] = {};  // Q4_K: 4-lane min term
  for (int64_t b = 0; b < blocks; b++) {
    const float wd = w.d[size_t(b)], wdmin = w.dmin[size_t(b)];
    if (act_quant_for(type) != ActQuant::kQ8_K) {
      scales[b] = wd * yd[b];
      continue;
    }
    const int16_t* bs = x.bsums.data() + (t * blocks + b) * 16;
    const int16_t* mn = w.min.data() + b * 16;
    const int16_t* sc = w.scale.data() + b * 16;
    int32_t* lb = lanes + 8 * b;
    scales[b] = yd[b] * wd;
    const float dmin = -yd[b] * wdmin;
    if (type == kQ2_K) {  // the min term goes into the same lanes, block by block
      for (int l = 0; l < 8; l++) acc[l] = std::fma(dmin, float(mins_dot(mn, bs, 2 * l, 2 * l + 2)), acc[l]);
      for (int l = 0; l < 8; l++) acc[l] = std::fma(scales[b], float(lb[l]), acc[l]);
    }
    if (type == kQ4_K)
      for (int k = 0; k < 4; k++) acc_m[k] = std::fma(dmin, float(mins_dot(mn, bs, 4 * k, 4 * k + 4)), acc_m[k]);
    if (type == kQ5_K) summs = std::fma(dmin, float(mins_dot(mn, bs, 0, 16)), summs);
    if (type == kQ6_K)
      for (int l = 0; l < 8; l++) lb[l] -= 32 * (int32_t(sc[2 * l]) * bs[2 * l] + int32_t(sc[2 * l + 1]) * bs[2 * l + 1]);
  }
  if (type != kQ2_K) fma_lanes(lanes, scales, blocks, acc);
  if (type == kQ4_1 || type == kQ5_1) summs = legacy_summs(w, blocks, x, t);
  float out = hsum_float_8(acc);
  if (type == kQ4_K) out += (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
  return out + summs;
}

// Eight decoded rows as repack.cpp interleaves them: per block the 8 rows' scales d and dmin, per
// 16-value group the 8 rows' mins, contiguous so that the float steps run 8 wide.
struct Rows8 {
  const DecodedRow* rows[8];
  std::vector<float> d, dmin;  // [blocks, 8]
  std::vector<int32_t> min;    // [groups of 16 values, 8]
  void gather(int64_t blocks, int64_t groups) {
    d.resize(size_t(blocks * 8));
    dmin.resize(size_t(blocks * 8));
    min.resize(size_t(groups * 8));
    for (int r = 0; r < 8; r++) {
      for (int64_t b = 0; b < blocks; b++) {
        d[size_t(8 * b + r)] = rows[r]->d[size_t(b)];
        dmin[size_t(8 * b + r)] = rows[r]->dmin[size_t(b)];
      }
      for (int64_t g = 0; g < groups; g++) min[size_t(8 * g + r)] = rows[r]->min[size_t(g)];
    }
  }
};

// repack.cpp's kernels for 8 outputs (8 weight rows, activation row t), from the rows' integer sums
// per step against it (rows8_step_dots): per step of `step` values (a multiple of 32 dividing the
// block) acc += float(int dot) * (d_w * d_x), and for the K-quants a min accumulator, subtracted at the end.
SPOGW_AVX2_CLONE void repack_dot8(uint32_t type, const Rows8& w, int64_t blocks, const QuantizedActs& x, int64_t t, int step,
                                  const int32_t* dots, float out[8]) {
  const int values = int(block_shape(type).values);
  const int steps_per_block = values / step;
  float acc[8] = {}, acc_min[8] = {};
  for (int64_t b = 0; b < blocks; b++) {
    const float yd = x.d[size_t(t * blocks + b)];
    const float* d = w.d.data() + 8 * b;
    const float* dmin = w.dmin.data() + 8 * b;
    for (int s = 0; s < steps_per_block; s++) {
      const int32_t* dot = dots + 8 * (b * steps_per_block + s);
      for (int r = 0; r < 8; r++) acc[r] = std::fma(float(dot[r]), d[r] * yd, acc[r]);
      if (type == kQ4_0) continue;
      const int16_t* bs = x.bsums.data() + (t * blocks + b) * 16;
      const int32_t* mn = w.min.data() + 8 * (b * values / 16);
      int32_t imin[8] = {};
      for (int g = s * step / 16; g < (s + 1) * step / 16; g++)
        for (int r = 0; r < 8; r++) imin[r] += mn[8 * g + r] * bs[g];
      for (int r = 0; r < 8; r++) acc_min[r] = std::fma(float(imin[r]), dmin[r] * yd, acc_min[r]);
    }
  }
  for (int r = 0; r < 8; r++) out[r] = acc[r] - acc_min[r];
}

// Values per float step of the repacked kernels: the batch (gemm) kernel and the single-row (gemv) one.
int repack_chunk(uint32_t type, bool batch) {
  switch (type) {
    case kQ4_0: return 32;
    case kQ4_K: return batch ? 64 : kQK;
    default: return batch ? 128 : kQK;  // Q2_K
  }
}

}  // namespace

bool is_block_quant(uint32_t type) { return block_shape(type).values != 0; }

BlockShape block_shape(uint32_t type) {
  switch (type) {
    case kQ4_0: return {32, 18};
    case kQ4_1: return {32, 20};
    case kQ5_0: return {32, 22};
    case kQ5_1: return {32, 24};
    case kQ2_K: return {256, 84};
    case kQ3_K: return {256, 110};
    case kQ4_K: return {256, 144};
    case kQ5_K: return {256, 176};
    case kQ6_K: return {256, 210};
    default: return {};
  }
}

void dequantize_row(uint32_t type, const uint8_t* src, int64_t n, float* out) {
  const BlockShape shape = block_shape(type);
  int8_t q[kQK];
  int16_t scale[16] = {1, 1}, min[16] = {};
  float d = 0.0f, dmin = 0.0f;
  const Decoded w{q, scale, min, d, dmin};
  for (int64_t b = 0; b < n / shape.values; b++, src += shape.bytes, out += shape.values) {
    decode(type, src, w);
    // ggml-base's dequantize_row_* expressions (that library is built without FMA, so none is fused).
    for (int i = 0; i < shape.values; i++) {
      const float q = float(w.q[i]);
      switch (type) {
        case kQ4_0:
        case kQ5_0: out[i] = q * w.d; break;
        case kQ4_1:
        case kQ5_1: out[i] = q * w.d + w.dmin; break;
        case kQ3_K: out[i] = (w.d * float(w.scale[i / 16])) * q; break;
        case kQ6_K: out[i] = (w.d * float(w.scale[i / 16])) * float(w.q[i] - 32); break;
        default: out[i] = (w.d * float(w.scale[i / 16])) * q - w.dmin * float(w.min[i / 16]); break;  // Q2_K, Q4_K, Q5_K
      }
    }
  }
}

int64_t first_nonfinite_scale(uint32_t type, const uint8_t* src, int64_t blocks, const char** field) {
  // Byte offsets of the F16 fields of each block layout.
  int first = 0, second = -1;
  const char* names[2] = {"d", "m"};
  switch (type) {
    case kQ4_0: case kQ5_0: break;
    case kQ4_1: case kQ5_1: second = 2; break;
    case kQ2_K: first = 80; second = 82; names[1] = "dmin"; break;
    case kQ3_K: first = 108; break;
    case kQ4_K: case kQ5_K: second = 2; names[1] = "dmin"; break;
    case kQ6_K: first = 208; break;
    default: return -1;
  }
  const int64_t bytes = block_shape(type).bytes;
  for (int64_t b = 0; b < blocks; b++) {
    const uint8_t* p = src + b * bytes;
    if (!half_finite(p + first)) {
      *field = names[0];
      return b;
    }
    if (second >= 0 && !half_finite(p + second)) {
      *field = names[1];
      return b;
    }
  }
  return -1;
}

// ---- activations ---------------------------------------------------------------------------------

ActQuant act_quant_for(uint32_t weight_type) {
  switch (weight_type) {
    case kQ4_0: case kQ5_0: return ActQuant::kQ8_0;
    case kQ4_1: case kQ5_1: return ActQuant::kQ8_1;
    default: return ActQuant::kQ8_K;
  }
}

int64_t act_block(ActQuant kind) { return kind == ActQuant::kQ8_K ? kQK : 32; }

void quantize_acts(const float* x, int64_t rows, int64_t cols, ActQuant kind, QuantizedActs& out) {
  const int64_t bv = act_block(kind);
  if (cols % bv != 0) throw Error("quantized product: row length " + std::to_string(cols) + " is not a multiple of " + std::to_string(bv));
  const int64_t n = checked_mul(rows, cols, "quantized activations");
  out.kind = kind;
  out.rows = rows;
  out.cols = cols;
  out.q.resize(size_t(n));
  out.d.resize(size_t(n / bv));
  out.s.resize(kind == ActQuant::kQ8_1 ? size_t(n / bv) : 0);
  out.bsums.resize(kind == ActQuant::kQ8_K ? size_t(n / 16) : 0);
  if (kind != ActQuant::kQ8_K) {
    // quantize_row_q8_0 (Q8_1: plus s, from the unrounded d = amax / 127 and the sum of the quants).
    parallel_for(n / 32, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; b++) {
        quantize_q8_0(x + b * 32, 32, out.q.data() + b * 32, out.d.data() + b);
        if (kind != ActQuant::kQ8_1) continue;
        float amax = 0.0f;
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) {
          amax = std::max(amax, std::fabs(x[b * 32 + j]));
          sum += out.q[size_t(b * 32 + j)];
        }
        out.s[size_t(b)] = round_f16(amax / 127.0f * float(sum));
      }
    });
    return;
  }
  // quantize_row_q8_K_ref: the value of largest magnitude (the first one, on ties) sets the scale.
  parallel_for(n / kQK, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
      const float* xb = x + b * kQK;
      int8_t* q = out.q.data() + b * kQK;
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < kQK; j++)
        if (std::fabs(xb[j]) > amax) {
          amax = std::fabs(xb[j]);
          max = xb[j];
        }
      if (amax == 0.0f) {
        out.d[size_t(b)] = 0.0f;
        std::memset(q, 0, kQK);
        std::fill(out.bsums.begin() + b * 16, out.bsums.begin() + b * 16 + 16, int16_t(0));
        continue;
      }
      const float iscale = -127.0f / max;
      for (int j = 0; j < kQK; j++) q[j] = int8_t(std::min(127.0f, std::nearbyint(iscale * xb[j])));
      for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) sum += q[16 * g + j];
        out.bsums[size_t(b * 16 + g)] = int16_t(sum);
      }
      out.d[size_t(b)] = 1.0f / iscale;
    }
  });
}

// ---- weights -------------------------------------------------------------------------------------

void dequantize_rows(const QuantMatrix& W, int64_t r0, int64_t r1, float* out) {
  parallel_for(r1 - r0, [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; r++) dequantize_row(W.type, W.row(r0 + r), W.cols, out + r * W.cols);
  });
}

QuantPath quant_path(uint32_t type, int64_t rows) {
  if (rows % 8 != 0) return QuantPath::kVecDot;
  switch (type) {
    case kQ4_0:
    case kQ4_K: return build() == Build::kNone ? QuantPath::kVecDot : QuantPath::kRepack;  // AVX2 and up
    case kQ2_K: return build() == Build::kAvx512 || build() == Build::kAvx512Bf16 ? QuantPath::kRepack : QuantPath::kVecDot;
    default: return QuantPath::kVecDot;
  }
}

const char* quant_path_name(QuantPath p) { return p == QuantPath::kRepack ? "repack" : "vec_dot"; }

void mul_mat_quant(const QuantMatrix& W, QuantPath path, const QuantizedActs& x, float* y, int64_t ldy) {
  if (x.cols != W.cols || x.kind != act_quant_for(W.type)) throw Error("internal: quantized product with mismatched activations");
  if (path == QuantPath::kRepack && W.rows % 8 != 0) throw Error("internal: the repacked kernels take weights with a multiple of 8 rows");
  const BlockShape shape = block_shape(W.type);
  const int64_t blocks = W.cols / shape.values;
  const int64_t batch_rows = x.rows - x.rows % 4;  // repack: the batch kernel takes whole groups of 4 rows
  // The 32-value types on the vec_dot path are Q8_0 products of their decoded values (the same exact
  // group sums, scaled and summed in 8 lanes; Q4_1/Q5_1 then add their min term): the engine's Q8_0
  // tile kernel runs them, 4 weight rows by 2 activation rows.
  const bool q8_tiles = path == QuantPath::kVecDot && shape.values == 32 && use_simd() && avx2::available();
  // Groups of 8 weight rows (repack.cpp's interleaving), each meeting up to 4 activation rows at once.
  parallel_for((W.rows + 7) / 8, [&](int64_t g0, int64_t g1) {
    DecodedRow rows[8];
    Rows8 rows8;
    std::vector<int32_t> ints(size_t(4 * blocks * 8 * (shape.values / 32)));  // per activation row: lanes or step sums
    std::vector<float> scales(static_cast<size_t>(blocks));
    int32_t* per_t[4];
    for (int j = 0; j < 4; j++) per_t[j] = ints.data() + j * blocks * 8 * (shape.values / 32);
    std::vector<int8_t> tile_q(q8_tiles ? size_t(8 * W.cols) : 0);  // the group's rows, contiguous, for the Q8_0 tiles
    std::vector<float> tile_d(q8_tiles ? size_t(8 * blocks) : 0);
    for (int64_t g = g0; g < g1; g++) {
      const int64_t o0 = g * 8, n_rows = std::min<int64_t>(8, W.rows - o0);
      for (int64_t r = 0; r < n_rows; r++) {
        rows[r].decode(W.type, W.row(o0 + r), W.cols);
        rows8.rows[r] = &rows[r];
      }
      if (path == QuantPath::kRepack) rows8.gather(blocks, W.cols / 16);
      const int64_t tiled_rows = q8_tiles ? n_rows / 4 * 4 : 0;
      for (int64_t r = 0; r < tiled_rows; r++) {
        std::copy(rows[r].q.begin(), rows[r].q.end(), tile_q.begin() + r * W.cols);
        std::copy(rows[r].d.begin(), rows[r].d.end(), tile_d.begin() + r * blocks);
      }
      for (int64_t t0 = 0; t0 < x.rows;) {
        // Repack: the batch kernel's groups of 4 rows, then the single-row kernel for the rest.
        const bool batch = t0 < batch_rows;
        const int nt = path == QuantPath::kRepack ? (batch ? 4 : 1) : int(std::min<int64_t>(q8_tiles ? 2 : 4, x.rows - t0));
        const int8_t* ys[4];
        for (int j = 0; j < nt; j++) ys[j] = x.q.data() + (t0 + j) * x.cols;
        if (path == QuantPath::kRepack) {
          const int step = repack_chunk(W.type, batch);
          rows8_step_dots(W.type, rows8.rows, ys, nt, W.cols / step, step, per_t);
          for (int j = 0; j < nt; j++) {
            float out[8];
            repack_dot8(W.type, rows8, blocks, x, t0 + j, step, per_t[j], out);
            for (int r = 0; r < 8; r++) y[(t0 + j) * ldy + o0 + r] = out[r];
          }
        } else {
          for (int64_t r = 0; r < tiled_rows; r += 4)
            avx2::q8_0_tile(tile_q.data() + r * W.cols, tile_d.data() + r * blocks, ys[0], x.d.data() + t0 * blocks, W.cols, nt,
                            y + t0 * ldy + o0 + r, ldy);
          for (int64_t r = 0; r < tiled_rows && (W.type == kQ4_1 || W.type == kQ5_1); r++)
            for (int j = 0; j < nt; j++) y[(t0 + j) * ldy + o0 + r] += legacy_summs(rows[r], blocks, x, t0 + j);
          for (int64_t r = tiled_rows; r < n_rows; r++) {
            row_lanes(W.type, rows[r], ys, nt, blocks, int(shape.values), per_t);
            for (int j = 0; j < nt; j++) y[(t0 + j) * ldy + o0 + r] = vec_dot(W.type, rows[r], blocks, x, t0 + j, per_t[j], scales.data());
          }
        }
        t0 += nt;
      }
    }
  });
}

}  // namespace spogw::ggml
