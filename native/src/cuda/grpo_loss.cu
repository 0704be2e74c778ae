// CUDA version of the fused log-prob + ioGRPO-mKL loss: the same tile loop as the CPU kernel
// (spogw/grpo_loss.h), with the per-token math from spogw/grpo_row_math.h shared with it.
//
//   per tile of rows:  Z = hidden_tile lmHead^T / T        GEMM: cuBLAS when it loads, else sgemm_tiled
//                      row_kernel: one block per row: max, sum of exp, logp, token math, then
//                                  Z := g (onehot - softmax) / T in place (llm.c's fused classifier idea;
//                                  the second read of a row mostly hits L2)
//                      dHidden_tile = Z lmHead             GEMM
//
// Inputs are copied to the device once per call, the per-token results come back and are summed on the
// host in float64, in token order, like the CPU kernel. Errors (no device, out of memory, a failed
// launch) throw spogw::Error; nothing aborts.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "cublas_dyn.h"
#include "spogw/error.h"
#include "spogw/grpo_loss.h"
#include "spogw/grpo_row_math.h"

namespace spogw {

namespace {

void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear a sticky launch error so the next call starts clean
    throw Error(std::string("CUDA ") + what + ": " + cudaGetErrorString(err));
  }
}

// Device memory owned for the duration of one call.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(int64_t n, const char* what) : n_(n) {
    if (n > 0) cuda_check(cudaMalloc(&ptr_, size_t(n) * sizeof(T)), what);
  }
  ~DeviceArray() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return ptr_; }
  void upload(const T* host, const char* what) {
    if (n_ > 0) cuda_check(cudaMemcpy(ptr_, host, size_t(n_) * sizeof(T), cudaMemcpyHostToDevice), what);
  }
  void download(T* host, const char* what) const {
    if (n_ > 0) cuda_check(cudaMemcpy(host, ptr_, size_t(n_) * sizeof(T), cudaMemcpyDeviceToHost), what);
  }

 private:
  T* ptr_ = nullptr;
  int64_t n_;
};

// ---- GEMM ---------------------------------------------------------------------------------------
// Own tiled SGEMM for machines without cuBLAS. Row-major C[M, N] = alpha A[M, K] op(B), where op(B) is
// B^T for B stored [N, K] (kTransB) or B for B stored [K, N]. A 64 x 64 block of C per 256 threads,
// each thread a 4 x 4 patch, K in steps of 16 through shared memory.
constexpr int kBM = 64, kBN = 64, kBK = 16;

template <bool kTransB>
__global__ void sgemm_tiled(int M, int N, int K, float alpha, const float* __restrict__ A,
                            const float* __restrict__ B, float* __restrict__ C) {
  __shared__ float As[kBK][kBM + 4];
  __shared__ float Bs[kBK][kBN + 4];
  const int tid = threadIdx.x;
  const int row0 = blockIdx.y * kBM, col0 = blockIdx.x * kBN;
  const int tr = (tid / 16) * 4, tc = (tid % 16) * 4;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += kBK) {
    for (int i = tid; i < kBM * kBK; i += 256) {  // A tile, stored transposed for conflict-free reads
      const int r = i / kBK, k = i % kBK;
      const int gr = row0 + r, gk = k0 + k;
      As[k][r] = (gr < M && gk < K) ? A[int64_t(gr) * K + gk] : 0.0f;
    }
    for (int i = tid; i < kBN * kBK; i += 256) {
      int c, k;
      if (kTransB) { c = i / kBK; k = i % kBK; }  // consecutive threads walk K: coalesced in B[N, K]
      else { k = i / kBN; c = i % kBN; }          // consecutive threads walk N: coalesced in B[K, N]
      const int gc = col0 + c, gk = k0 + k;
      float v = 0.0f;
      if (gc < N && gk < K) v = kTransB ? B[int64_t(gc) * K + gk] : B[int64_t(gk) * N + gc];
      Bs[k][c] = v;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBK; k++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[k][tr + i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[k][tc + j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; i++) {
    const int r = row0 + tr + i;
    if (r >= M) continue;
    for (int j = 0; j < 4; j++) {
      const int c = col0 + tc + j;
      if (c < N) C[int64_t(r) * N + c] = alpha * acc[i][j];
    }
  }
}

// Row-major product through cuBLAS (column-major): C = A op(B) is C^T = op(B)^T A^T, which cuBLAS
// computes from the same buffers read as column-major transposes.
class Gemm {
 public:
  Gemm() {
    // SPOGW_DISABLE_CUBLAS=1 forces the own SGEMM, so test:gpu can check it where cuBLAS exists.
    const char* off = std::getenv("SPOGW_DISABLE_CUBLAS");
    if (off && *off && std::string(off) != "0") return;
    api_ = cuda::cublas(&status_);
    if (api_ && api_->create(&handle_) != 0) {
      status_ = "cublasCreate failed; using the own SGEMM";
      api_ = nullptr;
      handle_ = nullptr;
    }
  }
  ~Gemm() {
    if (api_ && handle_) api_->destroy(handle_);
  }
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void run(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, const float* B, float* C) {
    const float beta = 0.0f;
    if (api_) {
      const int m = int(N), n = int(M), k = int(K);
      const int status = trans_b
          ? api_->sgemm(handle_, cuda::CUBLAS_OP_T, cuda::CUBLAS_OP_N, m, n, k, &alpha, B, k, A, k, &beta, C, m)
          : api_->sgemm(handle_, cuda::CUBLAS_OP_N, cuda::CUBLAS_OP_N, m, n, k, &alpha, B, m, A, k, &beta, C, m);
      if (status != 0) throw Error("cublasSgemm failed with status " + std::to_string(status));
      return;
    }
    const dim3 grid(unsigned((N + kBN - 1) / kBN), unsigned((M + kBM - 1) / kBM));
    if (trans_b) sgemm_tiled<true><<<grid, 256>>>(int(M), int(N), int(K), alpha, A, B, C);
    else sgemm_tiled<false><<<grid, 256>>>(int(M), int(N), int(K), alpha, A, B, C);
    cuda_check(cudaGetLastError(), "sgemm_tiled launch");
  }

 private:
  const cuda::CublasApi* api_ = nullptr;
  cuda::cublasHandle_t handle_ = nullptr;
  std::string status_;
};

// ---- row pass -----------------------------------------------------------------------------------
constexpr int kRowThreads = 512;

// Block-wide reduction (max or sum) through warp shuffles; every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read from a previous reduction
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < blockDim.x / 32 ? shared[lane] : (kMax ? -INFINITY : 0.0f);
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  return v;
}

struct TokenOut {
  float loss, kl, ratio;
  int clipped;  // 1: low, 2: high, 0: neither
};

// One block per row of the tile. With kBackward, also the token math and dlogits in place; without,
// only logp (the selective log-prob pass).
template <bool kBackward>
__global__ void row_kernel(float* __restrict__ Z, int64_t V, int64_t t0, const int32_t* __restrict__ targets,
                           const int32_t* __restrict__ seq_of, const float* __restrict__ adv,
                           const float* __restrict__ weight, const float* __restrict__ old_logp,
                           const float* __restrict__ ref_logp, GrpoTokenParams params, float inv_temp,
                           float* __restrict__ logp_out, TokenOut* __restrict__ token_out) {
  __shared__ float shared[32];
  __shared__ float g_over_t_shared;
  const int64_t t = t0 + blockIdx.x;
  float* z = Z + int64_t(blockIdx.x) * V;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, z[j]);
  mx = block_reduce<true>(mx, shared);
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) sum += expf(z[j] - mx);
  sum = block_reduce<false>(sum, shared);
  const float lse = mx + logf(sum);
  if (threadIdx.x == 0) {
    const int32_t target = targets[t];
    const float logp = z[target] - lse;  // read before any thread overwrites z below
    logp_out[t] = logp;
    if (kBackward) {
      const int32_t s = seq_of[t];
      const GrpoToken tok = grpo_token(logp, old_logp[t], ref_logp[t], adv[s], weight[s], params);
      token_out[t] = TokenOut{tok.loss, tok.kl, tok.ratio, tok.clipped_low ? 1 : (tok.clipped_high ? 2 : 0)};
      g_over_t_shared = tok.dloss_dlogp * inv_temp;
    }
  }
  if (!kBackward) return;
  __syncthreads();
  const float g_over_t = g_over_t_shared;
  const int32_t target = targets[t];
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) z[j] = grpo_dlogit(z[j], lse, j == target, g_over_t);
}

bool device_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    *why = cudaGetErrorString(err);
    return false;
  }
  if (count == 0) {
    *why = "no CUDA device found";
    return false;
  }
  return true;
}

void require_device(const char* fn) {
  std::string why;
  if (!device_available(&why)) throw Error(std::string(fn) + " on CUDA: no usable device (" + why + ")");
}

int64_t cuda_tile_rows(int64_t T, int64_t V, int64_t requested) {
  return requested > 0 ? std::min(requested, T) : grpo_tile_rows(T, V, kGrpoCudaTileBudgetBytes);
}

}  // namespace

const char* grpo_cuda_gemm_name() {
  static const std::string name = [] {
    std::string status;
    const char* off = std::getenv("SPOGW_DISABLE_CUBLAS");
    if (off && *off && std::string(off) != "0") return std::string("own tiled SGEMM (SPOGW_DISABLE_CUBLAS set)");
    return cuda::cublas(&status) ? "cuBLAS (" + status + ")" : std::string("own tiled SGEMM (cuBLAS ") + status + ")";
  }();
  return name.c_str();
}

GrpoLossSums grpo_loss_cuda(const GrpoLossInputs& in, const GrpoLossConfig& cfg, const GrpoLossOutputs& out,
                            int64_t tile_rows) {
  grpo_loss_validate(in, cfg, out);
  require_device("grpoLoss");
  const int64_t T = in.T, d = in.d, V = in.V, S = in.S;
  const int64_t rows = cuda_tile_rows(T, V, tile_rows);

  std::vector<int32_t> seq_of(static_cast<size_t>(T));
  for (int64_t i = 0; i < S; i++)
    for (int64_t t = in.seq_starts[i]; t < in.seq_starts[i + 1]; t++) seq_of[size_t(t)] = int32_t(i);

  DeviceArray<float> hidden(T * d, "alloc hidden"), lm_head(V * d, "alloc lmHead"), adv(S, "alloc"),
      weight(S, "alloc"), old_logp(T, "alloc"), ref_logp(T, "alloc"), logp(T, "alloc logp"),
      d_hidden(T * d, "alloc dHidden"), tile(checked_mul(rows, V, "tile"), "alloc logits tile");
  DeviceArray<int32_t> targets(T, "alloc"), seq(T, "alloc");
  DeviceArray<TokenOut> tokens(T, "alloc");
  hidden.upload(in.hidden, "copy hidden");
  lm_head.upload(in.lm_head, "copy lmHead");
  adv.upload(in.advantages, "copy advantages");
  weight.upload(in.seq_weights, "copy seqWeights");
  old_logp.upload(in.old_logp, "copy oldLogp");
  ref_logp.upload(in.ref_logp, "copy refLogp");
  targets.upload(in.targets, "copy targets");
  seq.upload(seq_of.data(), "copy sequence index");

  const GrpoTokenParams params = grpo_token_params(cfg);
  const float inv_temp = 1.0f / cfg.temperature;
  Gemm gemm;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    gemm.run(true, n, V, d, inv_temp, hidden.get() + t0 * d, lm_head.get(), tile.get());
    row_kernel<true><<<unsigned(n), kRowThreads>>>(tile.get(), V, t0, targets.get(), seq.get(), adv.get(),
                                                   weight.get(), old_logp.get(), ref_logp.get(), params,
                                                   inv_temp, logp.get(), tokens.get());
    cuda_check(cudaGetLastError(), "row_kernel launch");
    gemm.run(false, n, d, V, 1.0f, tile.get(), lm_head.get(), d_hidden.get() + t0 * d);
  }
  cuda_check(cudaDeviceSynchronize(), "grpoLoss kernels");

  std::vector<TokenOut> per_token(static_cast<size_t>(T));
  tokens.download(per_token.data(), "copy token results");
  logp.download(out.logp, "copy logp");
  d_hidden.download(out.d_hidden, "copy dHidden");
  GrpoLossSums sums;
  for (const TokenOut& tok : per_token) {
    sums.loss += tok.loss;
    sums.kl_sum += tok.kl;
    sums.ratio_sum += tok.ratio;
    sums.clipped_low += tok.clipped == 1;
    sums.clipped_high += tok.clipped == 2;
  }
  sums.tokens = T;
  return sums;
}

void selective_logprobs_cuda(const float* hidden_h, const float* lm_head_h, const int32_t* targets_h, int64_t T,
                             int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows) {
  selective_logprobs_validate(hidden_h, lm_head_h, targets_h, T, d, V, temperature, out);
  require_device("selectiveLogprobs");
  const int64_t rows = cuda_tile_rows(T, V, tile_rows);
  DeviceArray<float> hidden(T * d, "alloc hidden"), lm_head(V * d, "alloc lmHead"), logp(T, "alloc logp"),
      tile(checked_mul(rows, V, "tile"), "alloc logits tile");
  DeviceArray<int32_t> targets(T, "alloc targets");
  hidden.upload(hidden_h, "copy hidden");
  lm_head.upload(lm_head_h, "copy lmHead");
  targets.upload(targets_h, "copy targets");
  const float inv_temp = 1.0f / temperature;
  Gemm gemm;
  for (int64_t t0 = 0; t0 < T; t0 += rows) {
    const int64_t n = std::min(rows, T - t0);
    gemm.run(true, n, V, d, inv_temp, hidden.get() + t0 * d, lm_head.get(), tile.get());
    row_kernel<false><<<unsigned(n), kRowThreads>>>(tile.get(), V, t0, targets.get(), nullptr, nullptr, nullptr,
                                                    nullptr, nullptr, GrpoTokenParams{}, inv_temp, logp.get(),
                                                    nullptr);
    cuda_check(cudaGetLastError(), "row_kernel launch");
  }
  cuda_check(cudaDeviceSynchronize(), "selectiveLogprobs kernels");
  logp.download(out, "copy logp");
}

}  // namespace spogw
