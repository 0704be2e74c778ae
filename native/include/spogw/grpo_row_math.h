// Per-token math of the ioGRPO-mKL loss (paper Eq. 3.4-3.6; DESIGN.md "Training math"), shared by the
// CPU kernels (src/cpu/grpo_loss.cc) and the CUDA kernels (src/cuda/grpo_loss.cu). Plain float math,
// no library calls besides expf, so the same lines compile for host and device.
//
// For one response token with current log-prob logp (at the sampling temperature):
//   r     = exp(clamp(logp - old, -20, 20))
//   surr  = min(r A, clip(r, 1 - eps_low, 1 + eps_high) A)
//   kl    = exp(x) - x - 1,  x = clamp(ref - logp, -20, 20)             (Schulman k3)
//   m     = 1 if A > 0 else 0   (klMask "advantage"), or 1 for every token (klMask "all")
//   loss += -w (surr - beta m kl)
// The gradient flows through the unclipped branch only, and through it in full where the two
// branches tie (what PyTorch's min + clamp autograd sums to). Outside the +-20 clamp the clamped
// quantity is constant, so its gradient is 0 there (as autograd of torch.clamp gives).
#pragma once

#include "spogw/host_device.h"

#include <math.h>

namespace spogw {

// Largest |log-ratio| exponentiated; keeps exp() finite in float32 (e^20 ~ 4.9e8).
constexpr float kGrpoLogRatioClamp = 20.0f;

struct GrpoTokenParams {
  float eps_low;        // clip range [1 - eps_low, 1 + eps_high]
  float eps_high;
  float beta;           // KL coefficient
  bool kl_all_tokens;   // true: klMask "all"; false: "advantage" (KL only where A > 0)
};

struct GrpoToken {
  float loss;          // this token's term of the loss: -w (surr - beta m kl)
  float dloss_dlogp;   // d loss / d logp for this token (the g_t that scales dlogits)
  float ratio;         // r (after the clamp)
  float kl;            // k3 value (before masking and beta)
  bool clipped_low;    // the clipped branch was taken because r < 1 - eps_low (needs A < 0)
  bool clipped_high;   // the clipped branch was taken because r > 1 + eps_high (needs A > 0)
};

SPOGW_HD float grpo_clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

SPOGW_HD GrpoToken grpo_token(float logp, float old_logp, float ref_logp, float adv, float weight,
                              const GrpoTokenParams& p) {
  GrpoToken t;
  // Policy ratio and its clip.
  const float log_ratio = logp - old_logp;
  const bool ratio_saturated = log_ratio < -kGrpoLogRatioClamp || log_ratio > kGrpoLogRatioClamp;
  const float r = expf(grpo_clampf(log_ratio, -kGrpoLogRatioClamp, kGrpoLogRatioClamp));
  const float r_clipped = grpo_clampf(r, 1.0f - p.eps_low, 1.0f + p.eps_high);
  const float unclipped = r * adv, clipped = r_clipped * adv;
  // min() picks the unclipped branch on ties: that branch then carries the full gradient r A.
  const bool take_unclipped = unclipped <= clipped;
  const float surr = take_unclipped ? unclipped : clipped;
  // d(r A)/d logp = r A (since dr/dlogp = r); the clipped branch is constant in logp.
  const float dsurr = (take_unclipped && !ratio_saturated) ? unclipped : 0.0f;

  // k3 KL estimator of KL(pi_theta || pi_ref) at the sampled token, and d kl / d logp = 1 - e^x.
  const float x_raw = ref_logp - logp;
  const bool kl_saturated = x_raw < -kGrpoLogRatioClamp || x_raw > kGrpoLogRatioClamp;
  const float x = grpo_clampf(x_raw, -kGrpoLogRatioClamp, kGrpoLogRatioClamp);
  const float ex = expf(x);
  const float kl = ex - x - 1.0f;
  const float dkl = kl_saturated ? 0.0f : 1.0f - ex;
  const float mask = (p.kl_all_tokens || adv > 0.0f) ? 1.0f : 0.0f;
  const float kl_coef = p.beta * mask;

  t.loss = -weight * (surr - kl_coef * kl);
  t.dloss_dlogp = -weight * (dsurr - kl_coef * dkl);
  t.ratio = r;
  t.kl = kl;
  t.clipped_low = !take_unclipped && r < 1.0f - p.eps_low;
  t.clipped_high = !take_unclipped && r > 1.0f + p.eps_high;
  return t;
}

}  // namespace spogw
