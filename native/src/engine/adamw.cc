// AdamW after global-norm clipping; the formulas and the reference they follow are in spogw/engine/adamw.h.
#include "spogw/engine/adamw.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "spogw/error.h"

namespace spogw {

void check_adamw_config(const AdamWConfig& cfg) {
  const auto fail = [](const char* name, float v, const char* need) {
    throw Error(std::string("optimizerStep: ") + name + " must be " + need + " (got " + number_str(v) + ")");
  };
  if (!(cfg.lr >= 0) || !std::isfinite(cfg.lr)) fail("lr", cfg.lr, "a finite number >= 0");
  if (!(cfg.weight_decay >= 0) || !std::isfinite(cfg.weight_decay)) fail("weightDecay", cfg.weight_decay, "a finite number >= 0");
  if (!(cfg.beta1 >= 0 && cfg.beta1 < 1)) fail("beta1", cfg.beta1, "in [0, 1)");
  if (!(cfg.beta2 >= 0 && cfg.beta2 < 1)) fail("beta2", cfg.beta2, "in [0, 1)");
  if (!(cfg.eps > 0) || !std::isfinite(cfg.eps)) fail("eps", cfg.eps, "a finite number > 0");
  if (!(cfg.max_grad_norm >= 0) || !std::isfinite(cfg.max_grad_norm))
    fail("maxGradNorm", cfg.max_grad_norm, "a finite number >= 0 (0: no clipping)");
}

float clip_factor(double norm, float max_grad_norm) {
  if (max_grad_norm <= 0) return 1.0f;
  return float(std::min(1.0, double(max_grad_norm) / (norm + 1e-6)));
}

double adamw_step(const std::vector<AdamWTensor>& tensors, int64_t step, const AdamWConfig& cfg) {
  check_adamw_config(cfg);
  if (step < 1) throw Error("optimizerStep: the step number must be >= 1 (got " + std::to_string(step) + ")");
  double sq = 0.0;
  for (const AdamWTensor& t : tensors)
    for (int64_t i = 0; i < t.n; i++) sq += double(t.grad[i]) * t.grad[i];
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) {
    for (const AdamWTensor& t : tensors) std::fill(t.grad, t.grad + t.n, 0.0f);
    throw Error("optimizerStep: the gradient norm is not finite; the step was skipped and the gradients cleared");
  }
  const float clip = clip_factor(norm, cfg.max_grad_norm);
  const float bc1 = 1.0f - std::pow(cfg.beta1, float(step));
  const float bc2 = 1.0f - std::pow(cfg.beta2, float(step));
  for (const AdamWTensor& t : tensors) {
    for (int64_t i = 0; i < t.n; i++) {
      const float g = t.grad[i] * clip;
      t.m[i] = cfg.beta1 * t.m[i] + (1.0f - cfg.beta1) * g;
      t.v[i] = cfg.beta2 * t.v[i] + (1.0f - cfg.beta2) * g * g;
      const float m_hat = t.m[i] / bc1, v_hat = t.v[i] / bc2;
      t.value[i] -= cfg.lr * (m_hat / (std::sqrt(v_hat) + cfg.eps) + cfg.weight_decay * t.value[i]);
      t.grad[i] = 0.0f;
    }
  }
  return norm;
}

}  // namespace spogw
