// Matrix products on the device: cuBLAS (cublasGemmEx, loaded at run time, F32 accumulation) when it
// loads, else the own tiled kernel (gemm.cu), which is also what the emulated build runs. Row-major:
//
//   C[M, N] = alpha op(A) op(B) + beta C      op(A) = A [M, K] (lda) or, with trans_a, A^T of A [K, M]
//                                             op(B) = B [K, N] (ldb) or, with trans_b, B^T of B [N, K]
//
// A and B have the same element type (F32, or F16/BF16 bit patterns), C is float32; beta = 0 never
// reads C. Products of F16/BF16 operands accumulate in float32 (tensor cores under cuBLAS); F32
// operands are multiplied in float32 (cuBLAS's default math mode: no TF32).
#pragma once
#include <cstdint>
#include <string>

namespace spogw::gpu {

enum class DType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };
inline int64_t dtype_bytes(DType t) { return t == DType::kF32 ? 4 : 2; }
const char* dtype_name(DType t);

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A, int64_t lda, const void* B,
          int64_t ldb, DType ab, float beta, float* C, int64_t ldc);

// Which implementation gemm() uses here: "cuBLAS (libcublas.so.13)", or "own tiled GEMM (<why>)".
// SPOGW_DISABLE_CUBLAS=1 forces the own kernel (the GPU check runs every op both ways).
std::string gemm_backend();
bool gemm_uses_cublas();

}  // namespace spogw::gpu
