// Fused log-prob + ioGRPO-mKL loss over the output layer (paper Eq. 3.4-3.6, DESIGN.md "Training
// math"), forward and backward in one call, without ever holding the [T x V] logits:
//
//   for each tile of token rows:
//     Z    = hidden_tile x lmHead^T / temperature        (lm_head_logits.h, [rows x V] scratch)
//     per row: log-sum-exp (each 512-column chunk's max and sum, combined in float64), logp =
//              Z[target] - lse, the per-token loss term and g = d loss / d logp (grpo_row_math.h),
//              then Z := g (onehot - softmax(Z)) / T in place
//     dHidden_tile = Z x lmHead                          (lm_head_logits.h)
//
// Shapes (row-major, float32): hidden [T, d], lmHead [V, d], targets [T], seqStarts [S + 1] (response
// i owns tokens seqStarts[i] .. seqStarts[i+1] - 1), advantages/seqWeights [S], oldLogp/refLogp [T].
// The scratch is one [rows x V] tile; rows is chosen from a byte budget, so peak extra memory does not
// grow with T. Plain pointers and sizes only: the engine's fused output layer calls this directly.
//
// The public entry points validate their inputs first (sizes, seqStarts, targets, finiteness, settings;
// grpo_loss_validate.cc) and throw spogw::Error with a message naming the problem; nothing is computed
// on bad input. The *_unchecked entries skip that: they are for a caller that has already checked what
// it passes (the engine checks its weights once at load, and tokens and settings once per call), so a
// backward over many responses does not rescan the [V, d] output layer for each one.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>

#include "spogw/error.h"
#include "spogw/grpo_row_math.h"

namespace spogw {

// An output matrix [V, d] the caller does not hold as float32 (a quantized model keeps its blocks):
// fill(r0, r1, out) writes rows [r0, r1) as float32 into out [r1 - r0, d], and the kernels form the
// backward product dHidden = dLogits lmHead over blocks of `block_rows` rows, so no float32 copy of the
// whole matrix exists. logits(hidden, n, Z), when set, computes Z [n, V] = hidden lmHead^T itself
// (the engine: llama.cpp's own quantized product, so log-probs are those of the sampler's logits);
// otherwise the forward product is formed from fill's blocks too. Both run on the calling thread and
// may use parallel_for. Only the *_unchecked CPU entries take it (the engine's calls): the checked
// entries and the CUDA kernel take float32 rows.
struct LmHeadRows {
  std::function<void(int64_t r0, int64_t r1, float* out)> fill;
  int64_t block_rows = 0;
  std::function<void(const float* hidden, int64_t n, float* Z)> logits;
};

struct GrpoLossInputs {
  const float* hidden = nullptr;       // [T, d]
  const float* lm_head = nullptr;      // [V, d]; null when lm_head_rows is given
  const LmHeadRows* lm_head_rows = nullptr;  // used instead of lm_head when set (unchecked CPU entry only)
  const int32_t* targets = nullptr;    // [T], each in [0, V)
  const int32_t* seq_starts = nullptr; // [S + 1], 0 = s_0 < s_1 < ... < s_S = T
  const float* advantages = nullptr;   // [S]
  const float* seq_weights = nullptr;  // [S]
  const float* old_logp = nullptr;     // [T]
  const float* ref_logp = nullptr;     // [T]
  int64_t T = 0, d = 0, V = 0, S = 0;
};

// Which responses the KL term applies to: kAdvantage, only those with A_i > 0 (mKL); kAll, every token.
enum class KlMask { kUnset, kAdvantage, kAll };

// The loss settings: GrpoLossSettings in src/native/settings.ts, read from JS by read_loss_settings
// (napi/settings.cc). Every field is required and has no default: one left unset stays NaN (kUnset)
// and check_loss_config refuses it.
struct GrpoLossConfig {
  float eps_low = std::numeric_limits<float>::quiet_NaN();      // epsilon: clip below at 1 - eps_low
  float eps_high = std::numeric_limits<float>::quiet_NaN();     // epsilonHigh: clip above at 1 + eps_high
  float beta = std::numeric_limits<float>::quiet_NaN();         // KL coefficient
  float temperature = std::numeric_limits<float>::quiet_NaN();  // logits are divided by it
  KlMask kl_mask = KlMask::kUnset;
};

// The per-token math's view of the settings (grpo_row_math.h, shared with the CUDA kernels).
inline GrpoTokenParams grpo_token_params(const GrpoLossConfig& cfg) {
  return GrpoTokenParams{cfg.eps_low, cfg.eps_high, cfg.beta, cfg.kl_mask == KlMask::kAll};
}

struct GrpoLossOutputs {
  float* logp = nullptr;      // [T]
  float* d_hidden = nullptr;  // [T, d]
};

// Sums over the call's tokens, so that calls over disjoint sets of responses add up.
struct GrpoLossSums {
  double loss = 0.0;
  int64_t tokens = 0;
  int64_t clipped_low = 0;   // tokens where the clipped branch won with r < 1 - eps_low
  int64_t clipped_high = 0;  // ... with r > 1 + eps_high
  double kl_sum = 0.0;       // sum of k3 over all tokens (unmasked, before beta)
  double ratio_sum = 0.0;    // sum of r over all tokens
  GrpoLossSums& operator+=(const GrpoLossSums& o) {
    loss += o.loss;
    tokens += o.tokens;
    clipped_low += o.clipped_low;
    clipped_high += o.clipped_high;
    kl_sum += o.kl_sum;
    ratio_sum += o.ratio_sum;
    return *this;
  }
};

// Token rows per tile for a scratch budget of `budget_bytes` (at least 1 row, at most T).
inline int64_t grpo_tile_rows(int64_t T, int64_t V, int64_t budget_bytes) {
  const int64_t row_bytes = std::max<int64_t>(1, V) * int64_t(sizeof(float));
  const int64_t rows = std::max<int64_t>(1, budget_bytes / row_bytes);
  return std::max<int64_t>(1, std::min(rows, T));
}
// Default scratch budget: 96 MiB (165 rows at V = 151936). Why this size: each tile streams and packs all
// of lmHead once per product, which cost about 20/rows of the product time through BLAS (measured
// with native/dev/cpu/grpo_loss_lab.cc: 35% at 64 rows, 17% at 128, 12% at 170, 10% at 256); 96 MiB
// keeps that near 12% while the peak stays under 1/10 of the full [T x V] logits at T = 2048.
constexpr int64_t kGrpoTileBudgetBytes = int64_t(96) << 20;
// The CUDA kernel's budget: larger tiles keep the device's GEMMs efficient; still fixed, whatever T is.
constexpr int64_t kGrpoCudaTileBudgetBytes = int64_t(512) << 20;
// Bytes of scratch the fused kernels allocate for a given tile (what "peak extra memory" counts): the
// logits tile plus the per-row results (GrpoToken and a float per row).
inline int64_t grpo_workspace_bytes(int64_t tile_rows, int64_t V) {
  return checked_mul(tile_rows, V, "grpo tile") * int64_t(sizeof(float)) +
         tile_rows * int64_t(sizeof(GrpoToken) + sizeof(float));
}

// Input checks (src/cpu/grpo_loss_validate.cc), shared by the CPU, reference and CUDA entry points.
// Each throws spogw::Error naming what is wrong; `fn` prefixes the message.
void check_temperature(const char* fn, float temperature);
void check_loss_config(const char* fn, const GrpoLossConfig& cfg);
void grpo_loss_validate(const GrpoLossInputs& in, const GrpoLossConfig& cfg, const GrpoLossOutputs& out);
void selective_logprobs_validate(const float* hidden, const float* lm_head, const int32_t* targets,
                                 int64_t T, int64_t d, int64_t V, float temperature, const float* out);

// Fast CPU kernel: tiled, both products and the row passes on parallel_for, so it must not itself be
// called from inside parallel_for. tile_rows = 0 picks
// grpo_tile_rows(T, V, kGrpoTileBudgetBytes). The sums are accumulated in token order, so they do
// not depend on how the rows were split over threads.
GrpoLossSums grpo_loss_fused(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                             const GrpoLossOutputs& out, int64_t tile_rows = 0);
// The same without grpo_loss_validate: for callers that have checked in, cfg and out themselves.
GrpoLossSums grpo_loss_fused_unchecked(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                                       const GrpoLossOutputs& out, int64_t tile_rows = 0);

// Plain reference: one token at a time, float64 dot products and log-sum-exp, no BLAS, no threads.
// O(T V d); for tests and the kernel lab.
GrpoLossSums grpo_loss_reference(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                                 const GrpoLossOutputs& out);

// log pi(target) at the temperature for each token: the forward half of the fused kernel (no
// gradient), used for the old/ref passes. out: [T]. A row's result is the same bits whatever rows share
// the call and whatever tile_rows is (rows per pass; 0 = 1024), and equals the loss kernel's logp.
void selective_logprobs(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T,
                        int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows = 0);
// The same without selective_logprobs_validate, for callers that have checked their inputs.
void selective_logprobs_unchecked(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T,
                                  int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows = 0);
// The same with the output matrix given by rows (see LmHeadRows).
void selective_logprobs_unchecked(const float* hidden, const LmHeadRows& lm_head, const int32_t* targets, int64_t T,
                                  int64_t d, int64_t V, float temperature, float* out, int64_t tile_rows = 0);
void selective_logprobs_reference(const float* hidden, const float* lm_head, const int32_t* targets,
                                  int64_t T, int64_t d, int64_t V, float temperature, float* out);

// For the benchmark: only the fused kernel's two products, in the same tiles, without the row pass.
void grpo_loss_gemms_only(const float* hidden, const float* lm_head, int64_t T, int64_t d, int64_t V,
                          float* d_hidden, int64_t tile_rows = 0);

#ifdef SPOGW_WITH_CUDA
// The same algorithm on the first CUDA device (src/cuda/grpo_loss.cu). Host pointers in and out; the
// inputs are copied to the device once per call. Throws spogw::Error when no device is usable.
GrpoLossSums grpo_loss_cuda(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                            const GrpoLossOutputs& out, int64_t tile_rows = 0);
void selective_logprobs_cuda(const float* hidden, const float* lm_head, const int32_t* targets,
                             int64_t T, int64_t d, int64_t V, float temperature, float* out,
                             int64_t tile_rows = 0);
// Which GEMM the CUDA kernel uses: "cuBLAS (libcublas.so.13)" or "own tiled SGEMM (...)".
const char* grpo_cuda_gemm_name();
#endif

}  // namespace spogw
