// Causal grouped-query attention, plain or over a shared-prompt tree (group_layout.h), in tiles (FlashAttention-2's algorithm in plain float32 arithmetic):
// no [T, T] matrix is ever stored. A block of 256 threads owns 32 rows of one head; K and V (or Q and
// dO) arrive 32 rows at a time through shared memory. Thread t works on row t / 8 of the tile and on
// the columns c = t % 8 + 8 j, so the 8 threads of a row are neighbouring lanes that combine row
// statistics with three shuffles. Shared rows are padded to hd + 1 floats: the threads of a warp then
// read 8 different rows from 8 different banks.
//
//   forward   per (query tile, head): online softmax over the key tiles up to the diagonal; saves each
//             row's max m and sum l (stats), out = sum_j exp(s_j - m) v_j / l.
//   backward  row_dot D = rowsum(dout * out); then per (key tile, KV head): dK, dV summed over the query
//             heads of the group and the query tiles from the diagonal on; per (query tile, head): dQ.
//             Probabilities are recomputed from (m, l); each output has one writer (no atomics).
//
// In a tree a response's query tile skips the key tiles of earlier responses whole (tile_hidden), so a
// group costs attention over prompt + own rows per response, never [rows, rows].
#include <algorithm>
#include <type_traits>

#include "ops.h"
#include "portable.cuh"

namespace spogw::gpu {

namespace {

constexpr int kTile = 32, kThreads = 256, kLanesPerRow = 8;

#define SPOGW_ATTN_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

struct Dims {
  int T, H, KV, hd, ld_q, ld_kv;  // ld: floats per token row of q/out and of k/v
  float scale;
  // The tree of ops.h AttnTree: rows [0, prompt_rows) are the prompt; segment[i] is the first row of
  // query i's own response (read only for rows past the prompt).
  int prompt_rows;
  const int32_t* segment;
};

// Query i sees key j when j <= i and j is a prompt row or a row of i's own segment. Key 0 is visible
// to every query, so each softmax row has a finite maximum. Rows past T see only prompt rows.
__device__ __forceinline__ bool key_visible(const Dims& D, int query, int key) {
  return key <= query && (key < D.prompt_rows || (query < D.T && key >= D.segment[query]));
}
// No key of [k0, k0 + 32) is visible to any query of the tile starting at q0: keys past the prompt
// that end before the tile's first segment starts (segment starts never decrease along the rows).
__device__ __forceinline__ bool tile_hidden(const Dims& D, int q0, int k0) {
  return k0 >= D.prompt_rows && k0 + kTile <= D.segment[q0];
}

// Copies rows [row0, row0 + 32) of one head (columns [col0, col0 + hd)) into a padded shared tile;
// rows past T are zero.
__device__ __forceinline__ void load_tile(float* tile, const float* src, int ld, int row0, int col0, int T, int hd) {
  const int stride = hd + 1;
  for (int i = int(threadIdx.x); i < kTile * hd; i += kThreads) {
    const int r = i / hd, c = i % hd;
    tile[r * stride + c] = row0 + r < T ? src[int64_t(row0 + r) * ld + col0 + c] : 0.0f;
  }
}

__device__ __forceinline__ float dot_rows(const float* a, const float* b, int hd) {
  float s = 0.0f;
  for (int i = 0; i < hd; i++) s += a[i] * b[i];
  return s;
}

__device__ __forceinline__ float row_group_max(float v) {
  for (int o = 1; o < kLanesPerRow; o <<= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float row_group_sum(float v) {
  for (int o = 1; o < kLanesPerRow; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// NJ columns per thread: hd <= 8 NJ.
template <int NJ>
__global__ void __launch_bounds__(256) attention_forward_kernel(const float* q, const float* k, const float* v, Dims D, float* out,
                                                               float* stats) {
  float* sm = SPOGW_DYNAMIC_SMEM(float);
  const int stride = D.hd + 1;
  float* sQ = sm;
  float* sK = sQ + kTile * stride;
  float* sV = sK + kTile * stride;
  float* sP = sV + kTile * stride;  // [32][33]
  const int qt = int(blockIdx.x), h = int(blockIdx.y), g = h / (D.H / D.KV);
  const int r = int(threadIdx.x) / kLanesPerRow, cg = int(threadIdx.x) % kLanesPerRow;
  const int q0 = qt * kTile, query = q0 + r;
  load_tile(sQ, q, D.ld_q, q0, h * D.hd, D.T, D.hd);
  float m = -INFINITY, l = 0.0f, o[NJ];
#pragma unroll
  for (int jj = 0; jj < NJ; jj++) o[jj] = 0.0f;
  for (int kt = 0; kt <= qt; kt++) {
    const int k0 = kt * kTile;
    if (tile_hidden(D, q0, k0)) continue;  // the same for every thread of the block
    __syncthreads();  // the previous tile's K, V and P are no longer read
    load_tile(sK, k, D.ld_kv, k0, g * D.hd, D.T, D.hd);
    load_tile(sV, v, D.ld_kv, k0, g * D.hd, D.T, D.hd);
    __syncthreads();
    float s[4];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int c = cg + kLanesPerRow * j;
      const bool valid = key_visible(D, query, k0 + c);
      s[j] = valid ? dot_rows(sQ + r * stride, sK + c * stride, D.hd) * D.scale : -INFINITY;
      tile_max = fmaxf(tile_max, s[j]);
    }
    tile_max = row_group_max(tile_max);
    const float m_new = fmaxf(m, tile_max);  // finite: key 0 <= every query is in the first tile
    const float alpha = expf(m - m_new);
    float p_sum = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const float p = s[j] == -INFINITY ? 0.0f : expf(s[j] - m_new);
      sP[r * (kTile + 1) + cg + kLanesPerRow * j] = p;
      p_sum += p;
    }
    l = l * alpha + row_group_sum(p_sum);
    m = m_new;
    __syncthreads();
#pragma unroll
    for (int jj = 0; jj < NJ; jj++) {
      const int col = cg + kLanesPerRow * jj;
      if (col >= D.hd) continue;
      float acc = o[jj] * alpha;
      for (int c = 0; c < kTile; c++) acc += sP[r * (kTile + 1) + c] * sV[c * stride + col];
      o[jj] = acc;
    }
  }
  if (query < D.T) {
#pragma unroll
    for (int jj = 0; jj < NJ; jj++) {
      const int col = cg + kLanesPerRow * jj;
      if (col < D.hd) out[int64_t(query) * D.ld_q + h * D.hd + col] = o[jj] / l;
    }
    if (cg == 0) {
      stats[int64_t(h) * D.T + query] = m;
      stats[int64_t(D.H + h) * D.T + query] = l;
    }
  }
}

// D[h, t] = sum_i dout[t, h hd + i] out[t, h hd + i], one thread per (t, h), summed in the order of
// dot_rows: where a row has one key, out = v exactly and dS = p (dout v - D) is exactly 0.
__global__ void attention_row_dot_kernel(const float* dout, const float* out, Dims D, float* row_dot) {
  SPOGW_ATTN_GRID_STRIDE(i, int64_t(D.T) * D.H) {
    const int t = int(i / D.H), h = int(i % D.H);
    row_dot[int64_t(h) * D.T + t] = dot_rows(dout + int64_t(t) * D.ld_q + h * D.hd, out + int64_t(t) * D.ld_q + h * D.hd, D.hd);
  }
}

// dK, dV for 32 keys of KV head g: over the query heads h of the group and the query tiles from the
// diagonal on. Thread (r, cg) owns key row r.
template <int NJ>
__global__ void __launch_bounds__(256) attention_dkdv_kernel(const float* dout, const float* q, const float* k, const float* v,
                                                            const float* stats, const float* row_dot, Dims D, float* dk, float* dv) {
  float* sm = SPOGW_DYNAMIC_SMEM(float);
  const int stride = D.hd + 1;
  float* sK = sm;
  float* sV = sK + kTile * stride;
  float* sQ = sV + kTile * stride;
  float* sO = sQ + kTile * stride;           // dout rows
  float* sP = sO + kTile * stride;           // P^T [key][query], [32][33]
  float* sS = sP + kTile * (kTile + 1);      // dS^T
  float* sStat = sS + kTile * (kTile + 1);   // m, l, D of the 32 query rows
  const int kt = int(blockIdx.x), g = int(blockIdx.y), rep = D.H / D.KV;
  const int r = int(threadIdx.x) / kLanesPerRow, cg = int(threadIdx.x) % kLanesPerRow;
  const int k0 = kt * kTile, key = k0 + r;
  const int n_qt = (D.T + kTile - 1) / kTile;
  load_tile(sK, k, D.ld_kv, k0, g * D.hd, D.T, D.hd);
  load_tile(sV, v, D.ld_kv, k0, g * D.hd, D.T, D.hd);
  float dk_acc[NJ], dv_acc[NJ];
#pragma unroll
  for (int jj = 0; jj < NJ; jj++) dk_acc[jj] = dv_acc[jj] = 0.0f;
  for (int h = g * rep; h < (g + 1) * rep; h++) {
    for (int qt = kt; qt < n_qt; qt++) {
      const int q0 = qt * kTile;
      if (tile_hidden(D, q0, k0)) continue;  // the same for every thread of the block
      __syncthreads();  // the previous tiles are no longer read
      load_tile(sQ, q, D.ld_q, q0, h * D.hd, D.T, D.hd);
      load_tile(sO, dout, D.ld_q, q0, h * D.hd, D.T, D.hd);
      if (threadIdx.x < kTile) {
        const int row = q0 + int(threadIdx.x);
        const bool in = row < D.T;
        sStat[threadIdx.x] = in ? stats[int64_t(h) * D.T + row] : 0.0f;
        sStat[kTile + threadIdx.x] = in ? stats[int64_t(D.H + h) * D.T + row] : 1.0f;
        sStat[2 * kTile + threadIdx.x] = in ? row_dot[int64_t(h) * D.T + row] : 0.0f;
      }
      __syncthreads();
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const int c = cg + kLanesPerRow * j, query = q0 + c;
        float p = 0.0f, ds = 0.0f;
        if (query < D.T && key_visible(D, query, key)) {
          const float s = dot_rows(sK + r * stride, sQ + c * stride, D.hd) * D.scale;
          p = expf(s - sStat[c]) / sStat[kTile + c];
          ds = p * (dot_rows(sV + r * stride, sO + c * stride, D.hd) - sStat[2 * kTile + c]);
        }
        sP[r * (kTile + 1) + c] = p;
        sS[r * (kTile + 1) + c] = ds;
      }
      __syncthreads();
#pragma unroll
      for (int jj = 0; jj < NJ; jj++) {
        const int col = cg + kLanesPerRow * jj;
        if (col >= D.hd) continue;
        float a = dv_acc[jj], b = dk_acc[jj];
        for (int c = 0; c < kTile; c++) {
          a += sP[r * (kTile + 1) + c] * sO[c * stride + col];
          b += sS[r * (kTile + 1) + c] * sQ[c * stride + col];
        }
        dv_acc[jj] = a;
        dk_acc[jj] = b;
      }
    }
  }
  if (key < D.T) {
#pragma unroll
    for (int jj = 0; jj < NJ; jj++) {
      const int col = cg + kLanesPerRow * jj;
      if (col >= D.hd) continue;
      dk[int64_t(key) * D.ld_kv + g * D.hd + col] = dk_acc[jj] * D.scale;
      dv[int64_t(key) * D.ld_kv + g * D.hd + col] = dv_acc[jj];
    }
  }
}

// dQ for 32 query rows of head h, over the key tiles up to the diagonal.
template <int NJ>
__global__ void __launch_bounds__(256) attention_dq_kernel(const float* dout, const float* q, const float* k, const float* v,
                                                          const float* stats, const float* row_dot, Dims D, float* dq) {
  float* sm = SPOGW_DYNAMIC_SMEM(float);
  const int stride = D.hd + 1;
  float* sQ = sm;
  float* sO = sQ + kTile * stride;
  float* sK = sO + kTile * stride;
  float* sV = sK + kTile * stride;
  float* sS = sV + kTile * stride;  // dS [query][key], [32][33]
  const int qt = int(blockIdx.x), h = int(blockIdx.y), g = h / (D.H / D.KV);
  const int r = int(threadIdx.x) / kLanesPerRow, cg = int(threadIdx.x) % kLanesPerRow;
  const int q0 = qt * kTile, query = q0 + r;
  load_tile(sQ, q, D.ld_q, q0, h * D.hd, D.T, D.hd);
  load_tile(sO, dout, D.ld_q, q0, h * D.hd, D.T, D.hd);
  const bool in = query < D.T;
  const float m = in ? stats[int64_t(h) * D.T + query] : 0.0f;
  const float l = in ? stats[int64_t(D.H + h) * D.T + query] : 1.0f;
  const float rd = in ? row_dot[int64_t(h) * D.T + query] : 0.0f;
  float dq_acc[NJ];
#pragma unroll
  for (int jj = 0; jj < NJ; jj++) dq_acc[jj] = 0.0f;
  for (int kt = 0; kt <= qt; kt++) {
    const int k0 = kt * kTile;
    if (tile_hidden(D, q0, k0)) continue;  // the same for every thread of the block
    __syncthreads();
    load_tile(sK, k, D.ld_kv, k0, g * D.hd, D.T, D.hd);
    load_tile(sV, v, D.ld_kv, k0, g * D.hd, D.T, D.hd);
    __syncthreads();
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int c = cg + kLanesPerRow * j;
      float ds = 0.0f;
      if (in && key_visible(D, query, k0 + c)) {
        const float p = expf(dot_rows(sQ + r * stride, sK + c * stride, D.hd) * D.scale - m) / l;
        ds = p * (dot_rows(sO + r * stride, sV + c * stride, D.hd) - rd);
      }
      sS[r * (kTile + 1) + c] = ds;
    }
    __syncthreads();
#pragma unroll
    for (int jj = 0; jj < NJ; jj++) {
      const int col = cg + kLanesPerRow * jj;
      if (col >= D.hd) continue;
      float a = dq_acc[jj];
      for (int c = 0; c < kTile; c++) a += sS[r * (kTile + 1) + c] * sK[c * stride + col];
      dq_acc[jj] = a;
    }
  }
  if (in) {
#pragma unroll
    for (int jj = 0; jj < NJ; jj++) {
      const int col = cg + kLanesPerRow * jj;
      if (col < D.hd) dq[int64_t(query) * D.ld_q + h * D.hd + col] = dq_acc[jj] * D.scale;
    }
  }
}

Dims dims_of(AttnShape s, AttnTree tree) {
  if (s.hd < 1 || s.hd > kMaxAttentionHeadDim)
    throw Error("attention on CUDA: head size " + std::to_string(s.hd) + " is outside [1, " + std::to_string(kMaxAttentionHeadDim) + "]");
  if (s.KV < 1 || s.H % s.KV != 0) throw Error("attention: heads must be a multiple of KV heads");
  if (s.T > (int64_t(1) << 30)) throw Error("attention: too many tokens");
  const int64_t prompt = tree.segment == nullptr ? s.T : tree.prompt_rows;
  if (prompt < 1 || prompt > s.T) throw Error("attention: the prompt's rows must be in [1, T]");
  return Dims{int(s.T), int(s.H), int(s.KV), int(s.hd), int(s.H * s.hd), int(s.KV * s.hd), 1.0f / std::sqrt(float(s.hd)), int(prompt),
              tree.segment};
}

size_t tile_bytes(int hd) { return size_t(kTile) * size_t(hd + 1) * 4; }
constexpr size_t kSquareBytes = size_t(kTile) * (kTile + 1) * 4;

// Runs `body.template operator()<NJ>()` with the smallest NJ (columns per thread) covering hd.
template <class Body>
void with_columns(int hd, Body&& body) {
  if (hd <= 16) body(std::integral_constant<int, 2>());
  else if (hd <= 32) body(std::integral_constant<int, 4>());
  else if (hd <= 64) body(std::integral_constant<int, 8>());
  else if (hd <= 128) body(std::integral_constant<int, 16>());
  else body(std::integral_constant<int, 32>());
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, AttnShape s, float* out, float* stats, AttnTree tree) {
  const Dims D = dims_of(s, tree);
  const dim3 grid(blocks_for(D.T, kTile), unsigned(D.H));
  const size_t smem = 3 * tile_bytes(D.hd) + kSquareBytes;
  with_columns(D.hd, [&](auto nj) {
    launch("attention_forward", attention_forward_kernel<decltype(nj)::value>, grid, dim3(kThreads), smem, q, k, v, D, out, stats);
  });
}

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* out, const float* stats, AttnShape s,
                        float* dq, float* dk, float* dv, float* row_dot, AttnTree tree) {
  const Dims D = dims_of(s, tree);
  launch("attention_row_dot", attention_row_dot_kernel, dim3(unsigned(std::min<int64_t>(blocks_for(int64_t(D.T) * D.H, kThreads), 4096))),
         dim3(kThreads), 0, dout, out, D, row_dot);
  const size_t dkdv_smem = 4 * tile_bytes(D.hd) + 2 * kSquareBytes + 3 * kTile * 4;
  const size_t dq_smem = 4 * tile_bytes(D.hd) + kSquareBytes;
  with_columns(D.hd, [&](auto nj) {
    launch("attention_dkdv", attention_dkdv_kernel<decltype(nj)::value>, dim3(blocks_for(D.T, kTile), unsigned(D.KV)), dim3(kThreads),
           dkdv_smem, dout, q, k, v, stats, row_dot, D, dk, dv);
    launch("attention_dq", attention_dq_kernel<decltype(nj)::value>, dim3(blocks_for(D.T, kTile), unsigned(D.H)), dim3(kThreads), dq_smem,
           dout, q, k, v, stats, row_dot, D, dq);
  });
}

}  // namespace spogw::gpu
