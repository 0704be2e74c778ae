// The one entry point for dense float32 matrix products on the CPU. Every matmul in the engine and the
// loss kernel goes through gemm(); the backend (statically linked OpenBLAS, or the plain loops below
// when the build found no BLAS) is chosen at build time and reported by blas_name()/blas_core().
//
// Row-major throughout: C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C[m, n], where
// op(X) = X or X^T. A is stored [m, k] (or [k, m] when transA), B is [k, n] (or [n, k] when transB).
// lda/ldb/ldc are row strides in elements.
#pragma once
#include <cstdint>

namespace spogw {

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Plain triple loop with float64 accumulation: the oracle for tests and the "naive" column of the
// GEMM benchmark. Same contract as gemm().
void gemm_reference(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                    int64_t ldc);

// Backend description for info(): e.g. "OpenBLAS 0.3.21 (static, pthread)" and its kernel core
// ("SkylakeX"), or "none (reference loops)".
const char* blas_name();
const char* blas_core();

}  // namespace spogw
