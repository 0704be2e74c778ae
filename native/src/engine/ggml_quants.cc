// Block-quantized weights and llama.cpp's arithmetic for their products (see ggml_quants.h for what is
// reproduced and why). This file holds the portable reference of every path: blocks are decoded to
// their integer quants and scales, the integer dot products are formed exactly, and the float steps
// follow ggml's kernels operation for operation (fused multiply-adds written as std::fma; the library
// is built with -ffp-contract=off, so nothing else is fused).
#include "spogw/engine/ggml_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

// One block of a weight row as the integer dot products see it: the quants, the integer scale and
// min of each 16 values (K-quants; 1 and 0 for the 32-value types), and the block's float factors.
struct Decoded {
  int8_t q[kQK];
  int16_t scale[16];
  int16_t min[16];
  float d = 0.0f;     // the block or super-block scale
  float dmin = 0.0f;  // K-quants: the super-block min scale; Q4_1/Q5_1: the block min m
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
void decode(uint32_t type, const uint8_t* b, Decoded& o) {
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
      o.scale[0] = o.scale[1] = 1;
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
      o.scale[0] = o.scale[1] = 1;
      return;
    }
    case kQ2_K: {  // scales[16] (low nibble scale, high nibble min per 16 values), qs[64], d, dmin
      const uint8_t* qs = b + 16;
      for (int i = 0; i < kQK; i++) o.q[i] = int8_t((qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3);
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
      for (int i = 0; i < kQK; i++) {
        const int n = i / 128, s = (i % 128) / 32, l = i % 32;
        const int low = (qs[32 * n + l] >> (2 * s)) & 3;
        o.q[i] = int8_t(low - ((hm[l] >> (4 * n + s)) & 1 ? 0 : 4));
      }
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
      for (int i = 0; i < kQK; i++) {
        const int j = i / 64, l = i % 32, hi = (i % 64) / 32;
        int v = hi ? qs[32 * j + l] >> 4 : qs[32 * j + l] & 0xF;
        if (type == kQ5_K) v += ((qh[l] >> (2 * j + hi)) & 1) << 4;
        o.q[i] = int8_t(v);
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
      for (int i = 0; i < kQK; i++) {
        const int n = i / 128, k = (i % 128) / 32, l = i % 32;
        const uint8_t lo = ql[64 * n + 32 * (k % 2) + l];
        o.q[i] = int8_t(((k < 2 ? lo & 0xF : lo >> 4)) | (((qh[32 * n + l] >> (2 * k)) & 3) << 4));
      }
      for (int g = 0; g < 16; g++) o.scale[g] = int16_t(int8_t(b[192 + g]));
      o.d = half_at(b + 208);
      return;
    }
    default:
      throw Error("internal: decode of ggml type " + std::to_string(type));
  }
}

int32_t dot4(const int8_t* a, const int8_t* b) {
  return int32_t(a[0]) * b[0] + int32_t(a[1]) * b[1] + int32_t(a[2]) * b[2] + int32_t(a[3]) * b[3];
}

// The 8 integer lanes of ggml's AVX2 kernels for one block: lane l holds, for every 32-value chunk c,
// the scale of its 16 values times the dot product of bytes 4l..4l+3 of the chunk.
void block_lanes(const Decoded& w, const int8_t* y, int values, int32_t lanes[8]) {
  for (int l = 0; l < 8; l++) lanes[l] = 0;
  for (int c = 0; c < values / 32; c++)
    for (int l = 0; l < 8; l++) lanes[l] += int32_t(w.scale[2 * c + l / 4]) * dot4(w.q + 32 * c + 4 * l, y + 32 * c + 4 * l);
}

// sum over values [a, b) of a block of scale * q * y, exactly.
int32_t block_range_dot(const Decoded& w, const int8_t* y, int a, int b) {
  int32_t s = 0;
  for (int i = a; i < b; i++) s += int32_t(w.scale[i / 16]) * int32_t(w.q[i]) * int32_t(y[i]);
  return s;
}

// sum of mins times activation sums over the 16-value groups [g0, g1) (the Q8_K bsums).
int32_t mins_dot(const Decoded& w, const int16_t* bsums, int g0, int g1) {
  int32_t s = 0;
  for (int g = g0; g < g1; g++) s += int32_t(w.min[g]) * bsums[g];
  return s;
}

// ggml_vec_dot_<type>_q8_<...> (AVX2 path; tinyBLAS sums Q4_0/Q5_0 the same way) of one decoded weight
// row with activation row t.
float vec_dot(uint32_t type, const Decoded* w, int64_t blocks, const QuantizedActs& x, int64_t t) {
  const int values = int(block_shape(type).values);
  const int8_t* y = x.q.data() + t * x.cols;
  const float* yd = x.d.data() + t * blocks;
  float acc[8] = {};
  float summs = 0.0f;        // Q4_1, Q5_1, Q5_K: scalar min term
  float acc_m[4] = {};       // Q4_K: 4-lane min term
  int32_t lanes[8];
  for (int64_t b = 0; b < blocks; b++) {
    const Decoded& wb = w[b];
    const int8_t* yb = y + b * values;
    block_lanes(wb, yb, values, lanes);
    switch (type) {
      case kQ4_0:
      case kQ5_0:
      case kQ4_1:
      case kQ5_1: {
        const float scale = wb.d * yd[b];
        for (int l = 0; l < 8; l++) acc[l] = std::fma(scale, float(lanes[l]), acc[l]);
        // summs += m * s: ggml's compiler fused it (measured in native/dev/ggml).
        if (type == kQ4_1 || type == kQ5_1) summs = std::fma(wb.dmin, x.s[size_t(t * blocks + b)], summs);
        break;
      }
      default: {  // K-quants
        const int16_t* bs = x.bsums.data() + (t * blocks + b) * 16;
        const float d = yd[b] * wb.d;
        const float dmin = -yd[b] * wb.dmin;
        if (type == kQ2_K)
          for (int l = 0; l < 8; l++) acc[l] = std::fma(dmin, float(mins_dot(wb, bs, 2 * l, 2 * l + 2)), acc[l]);
        if (type == kQ4_K)
          for (int k = 0; k < 4; k++) acc_m[k] = std::fma(dmin, float(mins_dot(wb, bs, 4 * k, 4 * k + 4)), acc_m[k]);
        if (type == kQ5_K) summs = std::fma(dmin, float(mins_dot(wb, bs, 0, 16)), summs);
        if (type == kQ6_K)
          for (int l = 0; l < 8; l++) lanes[l] -= 32 * (int32_t(wb.scale[2 * l]) * bs[2 * l] + int32_t(wb.scale[2 * l + 1]) * bs[2 * l + 1]);
        for (int l = 0; l < 8; l++) acc[l] = std::fma(d, float(lanes[l]), acc[l]);
      }
    }
  }
  float out = hsum_float_8(acc);
  if (type == kQ4_K) out += (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
  return out + summs;
}

// repack.cpp's kernels for one output: per chunk of `chunk` values (a multiple of 32 dividing the block)
// acc += float(int dot) * (d_w * d_x), and for the K-quants a min accumulator, subtracted at the end.
float repack_dot(uint32_t type, const Decoded* w, int64_t blocks, const QuantizedActs& x, int64_t t, int chunk) {
  const int values = int(block_shape(type).values);
  const int8_t* y = x.q.data() + t * x.cols;
  float acc = 0.0f, acc_min = 0.0f;
  for (int64_t b = 0; b < blocks; b++) {
    const Decoded& wb = w[b];
    const float yd = x.d[size_t(t * blocks + b)];
    const int16_t* bs = type == kQ4_0 ? nullptr : x.bsums.data() + (t * blocks + b) * 16;
    for (int a = 0; a < values; a += chunk) {
      acc = std::fma(float(block_range_dot(wb, y + b * values, a, a + chunk)), wb.d * yd, acc);
      if (bs) acc_min = std::fma(float(mins_dot(wb, bs, a / 16, (a + chunk) / 16)), wb.dmin * yd, acc_min);
    }
  }
  return acc - acc_min;
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
  Decoded w;
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

void dequantize_acts(const QuantizedActs& a, float* out) {
  const int64_t bv = act_block(a.kind);
  parallel_for(a.rows * a.cols, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = a.d[size_t(i / bv)] * float(a.q[size_t(i)]);
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
  const int64_t blocks = W.cols / block_shape(W.type).values;
  const int64_t batch_rows = x.rows - x.rows % 4;  // repack: the batch kernel takes whole groups of 4 rows
  parallel_for(W.rows, [&](int64_t o0, int64_t o1) {
    std::vector<Decoded> row(static_cast<size_t>(blocks));
    for (int64_t o = o0; o < o1; o++) {
      for (int64_t b = 0; b < blocks; b++) decode(W.type, W.row(o) + b * block_shape(W.type).bytes, row[size_t(b)]);
      for (int64_t t = 0; t < x.rows; t++)
        y[t * ldy + o] = path == QuantPath::kRepack ? repack_dot(W.type, row.data(), blocks, x, t, repack_chunk(W.type, t < batch_rows))
                                                    : vec_dot(W.type, row.data(), blocks, x, t);
    }
  });
}

void mul_mat_quant_reference(const QuantMatrix& W, const QuantizedActs& x, double* y, int64_t ldy) {
  std::vector<float> w(static_cast<size_t>(W.cols)), xa(static_cast<size_t>(x.rows * x.cols));
  dequantize_acts(x, xa.data());
  for (int64_t o = 0; o < W.rows; o++) {
    dequantize_row(W.type, W.row(o), W.cols, w.data());
    for (int64_t t = 0; t < x.rows; t++) {
      double s = 0.0;
      for (int64_t i = 0; i < W.cols; i++) s += double(w[size_t(i)]) * double(xa[size_t(t * x.cols + i)]);
      y[t * ldy + o] = s;
    }
  }
}

}  // namespace spogw::ggml
