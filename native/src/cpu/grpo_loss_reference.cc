// Plain reference for the fused log-prob + ioGRPO-mKL loss: one token at a time, each logit a float64
// dot product, float64 log-sum-exp and dlogits, no BLAS and no threads. Slow (O(T V d)) and obviously
// right; the fast kernel (grpo_loss.cc) and the CUDA kernel are tested against it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "spogw/grpo_loss.h"

namespace spogw {

namespace {

// Scaled logits of token t in float64: z_j = <hidden_t, lmHead_j> / temperature. Returns log-sum-exp.
double row_logits(const float* h, const float* lm_head, int64_t d, int64_t V, double inv_temp,
                  std::vector<double>& z) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < V; j++) {
    double acc = 0.0;
    for (int64_t k = 0; k < d; k++) acc += double(h[k]) * double(lm_head[j * d + k]);
    z[size_t(j)] = acc * inv_temp;
    mx = std::max(mx, z[size_t(j)]);
  }
  double sum = 0.0;
  for (int64_t j = 0; j < V; j++) sum += std::exp(z[size_t(j)] - mx);
  return mx + std::log(sum);
}

}  // namespace

GrpoLossSums grpo_loss_reference(const GrpoLossInputs& in, const GrpoLossConfig& cfg,
                                 const GrpoLossOutputs& out) {
  grpo_loss_validate(in, cfg, out);
  const int64_t d = in.d, V = in.V;
  const double inv_temp = 1.0 / double(cfg.temperature);
  const GrpoTokenParams params = grpo_token_params(cfg);
  std::vector<double> z(static_cast<size_t>(V)), dh(static_cast<size_t>(d));
  GrpoLossSums sums;
  for (int64_t s = 0; s < in.S; s++) {
    for (int64_t t = in.seq_starts[s]; t < in.seq_starts[s + 1]; t++) {
      const float* h = in.hidden + t * d;
      const double lse = row_logits(h, in.lm_head, d, V, inv_temp, z);
      const int32_t target = in.targets[t];
      const float logp = float(z[size_t(target)] - lse);
      out.logp[t] = logp;
      const GrpoToken tok = grpo_token(logp, in.old_logp[t], in.ref_logp[t], in.advantages[s],
                                       in.seq_weights[s], params);
      sums.loss += tok.loss;
      sums.kl_sum += tok.kl;
      sums.ratio_sum += tok.ratio;
      sums.clipped_low += tok.clipped_low;
      sums.clipped_high += tok.clipped_high;
      // dHidden_t = sum_j g (onehot_j - p_j) / T * lmHead_j
      const double g_over_t = double(tok.dloss_dlogp) * inv_temp;
      std::fill(dh.begin(), dh.end(), 0.0);
      for (int64_t j = 0; j < V; j++) {
        const double dlogit = g_over_t * ((j == target ? 1.0 : 0.0) - std::exp(z[size_t(j)] - lse));
        if (dlogit == 0.0) continue;
        for (int64_t k = 0; k < d; k++) dh[size_t(k)] += dlogit * double(in.lm_head[j * d + k]);
      }
      for (int64_t k = 0; k < d; k++) out.d_hidden[t * d + k] = float(dh[size_t(k)]);
    }
  }
  sums.tokens = in.T;
  return sums;
}

void selective_logprobs_reference(const float* hidden, const float* lm_head, const int32_t* targets,
                                  int64_t T, int64_t d, int64_t V, float temperature, float* out) {
  selective_logprobs_validate(hidden, lm_head, targets, T, d, V, temperature, out);
  std::vector<double> z(static_cast<size_t>(V));
  for (int64_t t = 0; t < T; t++) {
    const double lse = row_logits(hidden + t * d, lm_head, d, V, 1.0 / double(temperature), z);
    out[t] = float(z[size_t(targets[t])] - lse);
  }
}

}  // namespace spogw
