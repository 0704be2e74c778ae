// The output layer's two products without BLAS, on our own register-tiled kernels
// (src/cpu/lm_head_logits.cc): logits Z = alpha H W^T for a block of the output matrix's rows, and the
// backward dH = G W. The fused log-prob and loss kernels (grpo_loss.cc) use them.
//
// Why our own product and not gemm(): two reasons, both measured.
//  - Every value is one fused multiply-add chain over k = 0 .. d-1 in order, then one multiply by
//    alpha. A value is therefore the same bits whichever other rows and columns share the call, whichever
//    thread computes it, and on every path below (vector lanes are separate vocabulary columns, never
//    parts of one sum). That is what lets the engine take a whole group's log-probs in one call and still
//    equal tokenLogprobs bit for bit; BLAS promises nothing of the kind.
//  - Speed: the output layer was half of a shared-prompt group's log-prob pass (docs/benchmarks.md).
//    On these machines (AMD EPYC Zen 5: AVX-512 with two 512-bit FMA pipes; OpenBLAS as they run it,
//    OPENBLAS_CORETYPE=Haswell, i.e. 256-bit kernels) `bench loss --tokens 2000` measured the fused
//    loss kernel on these products at 152 GFLOP/s against 81 for the same two products as OpenBLAS
//    GEMMs over all rows, and `bench update` the output layer's log-probs for 2000 predictor rows at
//    3.3 s of CPU time against 11.7 s before (OpenBLAS, one call per response).
#pragma once
#include <cstdint>

namespace spogw {

// Which instruction set computes the product. kAuto takes the widest the CPU has; the others are for
// tests (each gives the same bits) and throw spogw::Error when the CPU lacks them.
enum class LogitsPath { kAuto, kAvx512, kAvx2, kPortable };

bool logits_path_available(LogitsPath path);
// The path kAuto resolves to on this CPU: "avx512", "avx2" or "portable".
const char* logits_path_name();

// Z[r * ldz + j] = alpha * sum_k H[r * d + k] * W[j * d + k] for r < n, j < w (H: [n, d] row-major,
// W: w rows of the output matrix, [w, d] row-major). Runs on the calling thread (callers split the
// vocabulary over threads); packs W into a per-thread scratch of 32 d floats. Sizes are the caller's
// to check: this is the innermost loop of the output layer.
void lm_head_logits(const float* H, int64_t n, int64_t d, const float* W, int64_t w, float alpha, float* Z, int64_t ldz,
                    LogitsPath path = LogitsPath::kAuto);

// The backward product over the same block: dH[r * d + j] (+)= sum_v G[r * ldg + v] * W[v * d + j] for
// r < n, v < w, and the columns j in [j0, j1) (callers split the columns over threads); with
// accumulate the chains continue from dH's values, else they start at 0. Each value is one fma chain
// over v in order, so a block after block of W (accumulate on all but the first) gives the same bits as
// one call over the whole matrix, on every path. Packs [256 x 32] pieces of W per thread.
void lm_head_backprop(const float* G, int64_t n, int64_t ldg, const float* W, int64_t w, int64_t d, int64_t j0, int64_t j1, bool accumulate,
                      float* dH, LogitsPath path = LogitsPath::kAuto);

}  // namespace spogw
