// AdamW on a set of parameter tensors, after clipping the gradients by their global L2 norm.
//
// The update is Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
// Regularization", ICLR 2019, Algorithm 2) in the parameterisation of PyTorch's torch.optim.AdamW
// (amsgrad off, no schedule), which the code follows line for line: for step t = 1, 2, ...
//
//   m = beta1 m + (1 - beta1) g                  first moment
//   v = beta2 v + (1 - beta2) g^2                second moment
//   m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)          bias correction
//   p = p - lr (m_hat / (sqrt(v_hat) + eps) + weight_decay p)
//
// i.e. PyTorch's `p *= 1 - lr wd; p -= lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`,
// with the decay read from p before this step's Adam term, eps added to sqrt(v_hat) (not inside the
// root), and the decay scaled by lr (Loshchilov & Hutter's eta_t lambda with eta_t = lr). The
// gradients are first scaled as torch.nn.utils.clip_grad_norm_ does: g *= min(1, max_norm / (norm +
// 1e-6)), norm over every tensor together; max_grad_norm = 0 turns clipping off.
//
// Checked against a float64 reimplementation of these formulas in native/tests/test_adamw.cc.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

namespace spogw {

// The optimizer settings: OptimizerSettings in src/native/settings.ts, read from JS by
// read_optimizer_settings (napi/settings.cc). Every field is required and has no default: one left
// unset stays NaN and check_adamw_config refuses it.
struct AdamWConfig {
  float lr = std::numeric_limits<float>::quiet_NaN();
  float weight_decay = std::numeric_limits<float>::quiet_NaN();
  float beta1 = std::numeric_limits<float>::quiet_NaN();
  float beta2 = std::numeric_limits<float>::quiet_NaN();
  float eps = std::numeric_limits<float>::quiet_NaN();
  float max_grad_norm = std::numeric_limits<float>::quiet_NaN();  // 0: no clipping
};

// Throws spogw::Error unless lr, weightDecay, maxGradNorm >= 0, betas in [0, 1) and eps > 0.
void check_adamw_config(const AdamWConfig& cfg);

// One parameter tensor: values, accumulated gradient and the two moments, n floats each.
struct AdamWTensor {
  float* value = nullptr;
  float* grad = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t n = 0;
};

// The factor the gradients are scaled by: min(1, max_grad_norm / (norm + 1e-6)), or 1 when
// max_grad_norm is 0 (torch.nn.utils.clip_grad_norm_).
float clip_factor(double norm, float max_grad_norm);

// Clips by the global gradient norm, applies AdamW step number `step` (>= 1, counted by the caller)
// to every tensor and zeroes the gradients. Returns the norm before clipping. When that norm is not
// finite it zeroes the gradients, changes nothing else and throws spogw::Error.
double adamw_step(const std::vector<AdamWTensor>& tensors, int64_t step, const AdamWConfig& cfg);

}  // namespace spogw
