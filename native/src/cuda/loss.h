// The output layer and the fused log-prob + ioGRPO-mKL loss on the device (grpo_loss.cu), on device
// pointers, for the CUDA engine. The same tile loop as the CPU kernel (spogw/grpo_loss.h):
//
//   per tile of rows:  Z = round(hidden_tile) lmHead^T / T     typed GEMM (linear.h product_input)
//                      row kernel: one block per row: max, sum of exp, logp, the token math
//                                  (grpo_row_math.h, shared with the CPU), then dlogits
//                                  g (onehot - softmax) / T: in place for an F32 head; for an F16/BF16
//                                  head into a second tile, scaled per row by a power of two
//                      dHidden_tile = dZ lmHead                 GEMM (then unscaled per row)
//
// Per-token results come back to the host and are summed in float64 in token order, like the CPU's.
#pragma once
#include <cstdint>

#include "linear.h"
#include "spogw/grpo_loss.h"

namespace spogw::gpu {

struct DeviceLossInputs {
  const float* hidden = nullptr;      // [T, d], as the final norm left it (rounded for the head here)
  const int32_t* targets = nullptr;   // [T], checked by the caller
  const int32_t* seq_of = nullptr;    // [T]: the response each row belongs to
  const float* advantages = nullptr;  // [S]
  const float* seq_weights = nullptr; // [S]
  const float* old_logp = nullptr;    // [T]
  const float* ref_logp = nullptr;    // [T]
  int64_t T = 0, S = 0;
};

struct LossScratch {
  Buffer<float> tile;        // [rows, V] logits, then dlogits for an F32 head
  Buffer<uint16_t> dtile;    // [rows, V] dlogits for an F16/BF16 head
  Buffer<float> row_scale;   // [rows] inverse scales of dtile's rows
  Buffer<float> product;     // [rows, d] dHidden before unscaling
  Buffer<uint8_t> tokens;    // [T] per-token results
  LinearScratch input;       // the head's rounded/converted input rows
};

// Token rows per tile for the device budget (kGrpoCudaTileBudgetBytes), at most T.
int64_t loss_tile_rows(int64_t T, int64_t V, DType head, int64_t requested);

// logp [T] (device) and d_hidden [T, d] (device, overwritten) for the loss over the rows.
GrpoLossSums grpo_loss_device(const DeviceLossInputs& in, const DeviceWeight& lm_head, const GrpoLossConfig& cfg, float* logp, float* d_hidden,
                              LossScratch& s, int64_t tile_rows = 0);
// log pi(target) at the temperature per row: logp [T] (device).
void selective_logprobs_device(const float* hidden, const int32_t* targets, int64_t T, const DeviceWeight& lm_head, float temperature,
                               float* logp, LossScratch& s, int64_t tile_rows = 0);
// Raw logits [T, V] (hidden rounded for the head, temperature 1) into host memory, a tile at a time.
void logits_to_host(const float* hidden, int64_t T, const DeviceWeight& lm_head, float* out, LossScratch& s);

}  // namespace spogw::gpu

namespace spogw {
// grpo_loss.h's CUDA entry points (host pointers), declared there for CUDA builds; repeated here for
// the emulated build, which defines them too (grpo_loss.cu).
GrpoLossSums grpo_loss_cuda(const GrpoLossInputs& in, const GrpoLossConfig& cfg, const GrpoLossOutputs& out, int64_t tile_rows);
void selective_logprobs_cuda(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T, int64_t d, int64_t V,
                             float temperature, float* out, int64_t tile_rows);
const char* grpo_cuda_gemm_name();
}  // namespace spogw
