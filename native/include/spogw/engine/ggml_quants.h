// Block-quantized weights (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) kept in their GGUF
// blocks, and llama.cpp's CPU arithmetic for their matrix products, reproduced so that the engine's
// forward pass gives the same float32 values as the model node-llama-cpp samples from.
//
// What llama.cpp computes (ggml's CPU backend, node-llama-cpp 3.21.1 / llama.cpp release v0.4.0; the
// block layouts are ggml-common.h's, the arithmetic was read in ggml-quants.c, ggml-cpu/arch/x86/
// quants.c and repack.cpp, and checked bit for bit against ggml's own libraries in native/dev/ggml):
//
//   - The activations are quantized first, to the weight type's "vec dot" type: Q8_0 blocks for
//     Q4_0/Q5_0, Q8_1 (Q8_0 plus d * sum(q)) for Q4_1/Q5_1, Q8_K super-blocks (float scale, sums
//     per 16 values) for the K-quants.
//   - Each output is then exact integer dot products, combined in float in one of two orders:
//       vec_dot (ggml_vec_dot_*, and tinyBLAS for Q4_0/Q5_0, which sums the same way): 8 float lanes,
//         lane l taking, per block, scale x (the int sum of bytes 4l..4l+3 of each 32-value chunk,
//         times that chunk's sub-block scale), then a horizontal sum, then each type's min term;
//       repack (repack.cpp's interleaved kernels, used for Q4_0 and Q4_K weights with a multiple of 8
//         rows, and for Q2_K in AVX-512 builds): one float accumulator per output, one fused
//         multiply-add per chunk of the int dot (Q4_0: per block; Q4_K: per 64 values for the batch
//         kernel, per 256 for the single-row kernel; Q2_K: per 128 / 256), minus a second accumulator
//         for the mins. llama.cpp runs the batch kernel on the first T - T % 4 activation rows and the
//         single-row kernel on the rest.
//   - GET_ROWS (token embeddings) dequantizes with ggml's dequantize_row_* float arithmetic.
#pragma once
#include <cstdint>
#include <vector>

#include "spogw/aligned_vector.h"

namespace spogw::ggml {

// ggml type codes of the block-quantized weight types the engine reads (Q8_0, code 8, is handled by
// ggml_numerics.h).
enum QuantType : uint32_t { kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14 };
bool is_block_quant(uint32_t type);

struct BlockShape {
  int64_t values = 0, bytes = 0;  // {0, 0}: not one of the types above
};
BlockShape block_shape(uint32_t type);

// dequantize_row_<type>: n values (whole blocks) from the blocks at src into out, with ggml's float
// arithmetic (so that token embeddings equal llama.cpp's GET_ROWS bit for bit).
void dequantize_row(uint32_t type, const uint8_t* src, int64_t n, float* out);

// The first of `blocks` blocks whose F16 scale fields are not finite (NaN or infinite), or -1; `field`
// then names the field ("d", "dmin", "m").
int64_t first_nonfinite_scale(uint32_t type, const uint8_t* src, int64_t blocks, const char** field);

// ---- activations ---------------------------------------------------------------------------------

// The block type ggml quantizes a product's activations to for a weight type.
enum class ActQuant { kQ8_0, kQ8_1, kQ8_K };
ActQuant act_quant_for(uint32_t weight_type);
int64_t act_block(ActQuant kind);  // values per block: 32 or 256

// Activation rows as ggml quantizes them. Q8_0/Q8_1: per 32 values q = round(x * 127 / amax), d =
// amax / 127 rounded to F16, and for Q8_1 s = F16(d_unrounded * sum(q)). Q8_K: per 256 values
// iscale = -127 / (the value of largest magnitude), q = round(iscale * x), d = 1 / iscale (a float),
// and the sum of q over each 16 values.
struct QuantizedActs {
  ActQuant kind = ActQuant::kQ8_0;
  int64_t rows = 0, cols = 0;
  std::vector<int8_t> q;       // [rows, cols]
  std::vector<float> d;        // per block
  std::vector<float> s;        // Q8_1 only: per block
  std::vector<int16_t> bsums;  // Q8_K only: per 16 values
};
void quantize_acts(const float* x, int64_t rows, int64_t cols, ActQuant kind, QuantizedActs& out);

// ---- weights -------------------------------------------------------------------------------------

// A frozen weight [rows, cols] held as its GGUF blocks (each row is cols / block values blocks).
struct QuantMatrix {
  uint32_t type = 0;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t, CacheAlignedAllocator<uint8_t>> blocks;
  int64_t row_bytes() const { return cols / block_shape(type).values * block_shape(type).bytes; }
  const uint8_t* row(int64_t r) const { return blocks.data() + r * row_bytes(); }
  bool empty() const { return blocks.empty(); }
};

// Dequantized rows [r0, r1) into out [r1 - r0, cols] (row-major).
void dequantize_rows(const QuantMatrix& W, int64_t r0, int64_t r1, float* out);

// Which of ggml's kernels llama.cpp uses for a weight of this type and row count in the reproduced
// build (repack.cpp's ggml_repack_get_optimal_repack_type: Q4_0 and Q4_K with AVX2, Q2_K with
// AVX-512, each when rows % 8 == 0; every weight the model loader places in the CPU_REPACK buffer,
// which is every 2-D matrix product weight, the output layer included).
enum class QuantPath { kVecDot, kRepack };
QuantPath quant_path(uint32_t type, int64_t rows);
const char* quant_path_name(QuantPath p);

// y[t * ldy + o] = W[o, :] . x[t, :] for o < W.rows, t < x.rows, as llama.cpp's CPU backend computes
// ggml_mul_mat(W, x) on `path` (quant_path(W.type, W.rows) is llama.cpp's choice) with x quantized by
// quantize_acts(act_quant_for(W.type)). Runs on the engine's thread pool.
void mul_mat_quant(const QuantMatrix& W, QuantPath path, const QuantizedActs& x, float* y, int64_t ldy);

}  // namespace spogw::ggml
