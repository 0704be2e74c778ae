// CPU GEMM: OpenBLAS's cblas_sgemm when the build linked it (SPOGW_HAVE_OPENBLAS), else blocked plain
// loops. Sizes are checked here once, so callers can rely on a clear error instead of a BLAS abort.
#include "spogw/gemm.h"

#include <climits>
#include <string>
#include <vector>

#include "spogw/error.h"
#include "spogw/threads.h"

#ifdef SPOGW_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace spogw {

namespace {

void check_args(bool transA, bool transB, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                int64_t ldc) {
  if (m < 0 || n < 0 || k < 0) throw Error("gemm: negative size m=" + std::to_string(m) + " n=" +
                                           std::to_string(n) + " k=" + std::to_string(k));
  const int64_t a_cols = transA ? m : k, b_cols = transB ? k : n;
  if (lda < a_cols || ldb < b_cols || ldc < n)
    throw Error("gemm: leading dimension smaller than the row length");
  // BLAS takes 32-bit ints: refuse sizes it cannot express rather than truncating them.
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    if (v > INT_MAX) throw Error("gemm: dimension " + std::to_string(v) + " exceeds 2^31-1");
}

}  // namespace

void gemm_reference(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                    int64_t ldc) {
  check_args(transA, transB, m, n, k, lda, ldb, ldc);
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n; j++) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; p++) {
        const double a = transA ? A[p * lda + i] : A[i * lda + p];
        const double b = transB ? B[j * ldb + p] : B[p * ldb + j];
        acc += a * b;
      }
      float* c = &C[i * ldc + j];
      *c = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : double(beta) * *c));
    }
  }
}

#ifdef SPOGW_HAVE_OPENBLAS

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  check_args(transA, transB, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS leaves C untouched when k = 0 only for beta = 1; make the contract explicit
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              int(m), int(n), int(k), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

const char* blas_name() {
  static const std::string name = std::string("OpenBLAS (static, pthread): ") + openblas_get_config();
  return name.c_str();
}
const char* blas_core() { return openblas_get_corename(); }

#else  // no BLAS: cache-blocked loops parallel over rows of C. Correct, not fast.

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  check_args(transA, transB, m, n, k, lda, ldb, ldc);
  parallel_for(m, [&](int64_t r0, int64_t r1) {
    std::vector<float> arow(size_t(k));
    for (int64_t i = r0; i < r1; i++) {
      for (int64_t p = 0; p < k; p++) arow[p] = transA ? A[p * lda + i] : A[i * lda + p];
      float* c = C + i * ldc;
      for (int64_t j = 0; j < n; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
      if (transB) {
        for (int64_t j = 0; j < n; j++) {
          const float* b = B + j * ldb;
          float acc = 0.0f;
          for (int64_t p = 0; p < k; p++) acc += arow[p] * b[p];
          c[j] += alpha * acc;
        }
      } else {
        for (int64_t p = 0; p < k; p++) {
          const float a = alpha * arow[p];
          const float* b = B + p * ldb;
          for (int64_t j = 0; j < n; j++) c[j] += a * b[j];
        }
      }
    }
  });
}

const char* blas_name() { return "none (built without BLAS: blocked reference loops)"; }
const char* blas_core() { return "none"; }

#endif

}  // namespace spogw
