// cuBLAS loaded at run time. cuBLAS is not on the build machines (only the CUDA runtime is), so we
// declare the handful of types and prototypes we call and resolve them with dlopen/dlsym. Absence of
// cuBLAS is a capability ("unavailable: <reason>"), never an error: our own kernels cover every op.
#pragma once
#include <string>

namespace spogw::cuda {

typedef struct cublasContext* cublasHandle_t;
typedef int cublasStatus_t;  // CUBLAS_STATUS_SUCCESS = 0
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
struct CUstream_st;

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;              // cublasCreate_v2
  cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;              // cublasDestroy_v2
  cublasStatus_t (*setStream)(cublasHandle_t, CUstream_st*) = nullptr;  // cublasSetStream_v2
  // cublasSgemm_v2: column-major C = alpha op(A) op(B) + beta C
  cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int m, int n, int k,
                          const float* alpha, const float* A, int lda, const float* B, int ldb,
                          const float* beta, float* C, int ldc) = nullptr;
  // cublasGemmEx (cuBLAS 11 and later): the same with typed A, B, C (cudaDataType_t) and a compute
  // type (cublasComputeType_t); enums travel as int.
  cublasStatus_t (*gemmEx)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int m, int n, int k, const void* alpha,
                           const void* A, int a_type, int lda, const void* B, int b_type, int ldb, const void* beta, void* C,
                           int c_type, int ldc, int compute_type, int algo) = nullptr;
};

// The enum values cublasGemmEx takes (library_types.h, cublas_api.h; the same in CUDA 11, 12 and 13).
constexpr int kCudaR32F = 0, kCudaR16F = 2, kCudaR16BF = 14;
constexpr int kCublasCompute32F = 68;
constexpr int kCublasGemmDefault = -1;

// The loaded API, or nullptr when cuBLAS cannot be loaded; `status` says which library or why not.
const CublasApi* cublas(std::string* status = nullptr);

}  // namespace spogw::cuda
