// gemm.h: cuBLAS through the run-time loaded API (cublas_dyn.h), and the own tiled kernel.
#include <cstdlib>
#include <mutex>
#include <string>

#include "gemm.h"
#include "portable.cuh"
#ifndef SPOGW_CUDA_EMULATION
#include "cublas_dyn.h"
#endif

namespace spogw::gpu {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
  }
  return "?";
}

namespace {

// ---- the own kernel: a 64 x 64 block of C per 256 threads, each thread a 4 x 4 patch, K in steps
// of 16 through shared memory (A stored transposed there, so both tiles are read along rows).
constexpr int kBM = 64, kBN = 64, kBK = 16;

template <class T>
__device__ __forceinline__ float load_value(const T* p, int64_t i);
template <>
__device__ __forceinline__ float load_value<float>(const float* p, int64_t i) { return p[i]; }
struct F16 { uint16_t bits; };
struct BF16 { uint16_t bits; };
template <>
__device__ __forceinline__ float load_value<F16>(const F16* p, int64_t i) { return f16_to_f32(p[i].bits); }
template <>
__device__ __forceinline__ float load_value<BF16>(const BF16* p, int64_t i) { return bf16_to_f32(p[i].bits); }

template <class T>
__global__ void __launch_bounds__(256) gemm_tiled(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const T* __restrict__ A,
                                                  int64_t lda, const T* __restrict__ B, int64_t ldb, float beta, float* __restrict__ C,
                                                  int64_t ldc) {
  __shared__ float As[kBK][kBM + 4];
  __shared__ float Bs[kBK][kBN + 4];
  const int tid = int(threadIdx.x);
  const int row0 = int(blockIdx.y) * kBM, col0 = int(blockIdx.x) * kBN;
  const int tr = (tid / 16) * 4, tc = (tid % 16) * 4;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += kBK) {
    for (int i = tid; i < kBM * kBK; i += 256) {
      // Consecutive threads walk the stored matrix's contiguous dimension: K for A [M, K], M for A^T.
      int r, k;
      if (trans_a) { k = i / kBM; r = i % kBM; }
      else { r = i / kBK; k = i % kBK; }
      const int gr = row0 + r, gk = k0 + k;
      float v = 0.0f;
      if (gr < M && gk < K) v = load_value(A, trans_a ? int64_t(gk) * lda + gr : int64_t(gr) * lda + gk);
      As[k][r] = v;
    }
    for (int i = tid; i < kBN * kBK; i += 256) {
      int c, k;
      if (trans_b) { c = i / kBK; k = i % kBK; }
      else { k = i / kBN; c = i % kBN; }
      const int gc = col0 + c, gk = k0 + k;
      float v = 0.0f;
      if (gc < N && gk < K) v = load_value(B, trans_b ? int64_t(gc) * ldb + gk : int64_t(gk) * ldb + gc);
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
      if (c >= N) continue;
      float* out = C + int64_t(r) * ldc + c;
      *out = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *out;
    }
  }
}

template <class T>
void own_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A, int64_t lda, const void* B, int64_t ldb,
              float beta, float* C, int64_t ldc) {
  const dim3 grid(blocks_for(N, kBN), blocks_for(M, kBM));
  launch("gemm_tiled", gemm_tiled<T>, grid, dim3(256), 0, trans_a, trans_b, int(M), int(N), int(K), alpha, static_cast<const T*>(A), lda,
         static_cast<const T*>(B), ldb, beta, C, ldc);
}

bool cublas_disabled_by_env() {
  const char* off = std::getenv("SPOGW_DISABLE_CUBLAS");
  return off && *off && std::string(off) != "0";
}

#ifndef SPOGW_CUDA_EMULATION
// One cuBLAS handle per host thread (a handle must not be used by two threads at once; the addon's
// calls arrive on libuv's worker threads), made on first use and kept for the thread's life.
struct ThreadHandle {
  cuda::cublasHandle_t handle = nullptr;
  bool tried = false;
  ~ThreadHandle() {
    if (handle) cuda::cublas()->destroy(handle);
  }
};

cuda::cublasHandle_t thread_handle() {
  thread_local ThreadHandle h;
  if (!h.tried) {
    h.tried = true;
    const cuda::CublasApi* api = cuda::cublas();
    if (api && api->create(&h.handle) != 0) h.handle = nullptr;
  }
  return h.handle;
}

int cuda_type(DType t) {
  return t == DType::kF32 ? cuda::kCudaR32F : t == DType::kF16 ? cuda::kCudaR16F : cuda::kCudaR16BF;
}
#endif

}  // namespace

bool gemm_uses_cublas() {
#ifdef SPOGW_CUDA_EMULATION
  return false;
#else
  return !cublas_disabled_by_env() && cuda::cublas() != nullptr;
#endif
}

std::string gemm_backend() {
#ifdef SPOGW_CUDA_EMULATION
  return "own tiled GEMM (emulated device: no cuBLAS)";
#else
  if (cublas_disabled_by_env()) return "own tiled GEMM (SPOGW_DISABLE_CUBLAS set)";
  std::string status;
  return cuda::cublas(&status) ? "cuBLAS (" + status + ")" : "own tiled GEMM (cuBLAS " + status + ")";
#endif
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A, int64_t lda, const void* B,
          int64_t ldb, DType ab, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  constexpr int64_t kIntMax = 2147483647;
  if (M > kIntMax || N > kIntMax || K > kIntMax || lda > kIntMax || ldb > kIntMax || ldc > kIntMax)
    throw Error("gemm: a dimension exceeds 2^31 - 1 (M=" + std::to_string(M) + ", N=" + std::to_string(N) + ", K=" + std::to_string(K) + ")");
  if (K <= 0) {  // an empty sum: C = beta C
    if (beta == 0.0f) {
      for (int64_t r = 0; r < M; r++) fill_zero(C + r * ldc, N * 4);
      return;
    }
    K = 0;
  }
#ifndef SPOGW_CUDA_EMULATION
  if (gemm_uses_cublas()) {
    if (cuda::cublasHandle_t h = thread_handle()) {
      const cuda::CublasApi* api = cuda::cublas();
      const int t = cuda_type(ab);
      const int status = api->gemmEx(h, trans_b ? cuda::CUBLAS_OP_T : cuda::CUBLAS_OP_N, trans_a ? cuda::CUBLAS_OP_T : cuda::CUBLAS_OP_N,
                                     int(N), int(M), int(K), &alpha, B, t, int(ldb), A, t, int(lda), &beta, C, cuda::kCudaR32F, int(ldc),
                                     cuda::kCublasCompute32F, cuda::kCublasGemmDefault);
      if (status != 0)
        throw Error("cublasGemmEx failed with status " + std::to_string(status) + " (M=" + std::to_string(M) + ", N=" + std::to_string(N) +
                    ", K=" + std::to_string(K) + ", " + dtype_name(ab) + ")");
      return;
    }
  }
#endif
  switch (ab) {
    case DType::kF32: own_gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
    case DType::kF16: own_gemm<F16>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
    case DType::kBF16: own_gemm<BF16>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return;
  }
}

}  // namespace spogw::gpu
