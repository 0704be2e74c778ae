// The output layer: the fused log-prob + ioGRPO-mKL loss kernel (grpo_loss.h), whose forward gives
// logp = log softmax(hidden lmHead^T / temperature)[target] per token and the loss, and whose
// backward gives d loss / d hidden (lmHead is frozen). Forward against a float64 reference of the
// log-probs and of the loss (DESIGN.md "Training math", written here from the formula); d_hidden
// against finite differences of that float64 loss.
#pragma once
#include "../test_util.h"
#include "spogw/grpo_loss.h"

namespace spogw::test {

// Tolerances (test_util.h): measured errors beside them.
// The loss sums terms of both signs, so its relative error is larger than any one term's; d_hidden
// is largest at T = 1, where lmHead[target] - E_softmax[lmHead] cancels most.
constexpr double kOutputForwardTol = 1e-6;  // measured 2.5e-7 (logp)
constexpr double kOutputLossTol = 5e-6;     // measured 1.0e-6
constexpr double kOutputBackwardTol = 1e-5;  // measured 2.9e-6

struct OutputOps {
  // log pi(target) at the temperature, no gradient (the old/ref passes): logp [T].
  std::function<void(const float* hidden, const float* lm_head, const int32_t* targets, int64_t T, int64_t d, int64_t V,
                     float temperature, float* logp)>
      logprobs;
  // The loss over the responses of `in`; logp [T] and d_hidden [T, d] overwritten. Returns the loss.
  std::function<double(const GrpoLossInputs& in, const GrpoLossConfig& cfg, float* logp, float* d_hidden)> loss;
};

// fd_samples: hidden entries checked by finite differences (0: all).
struct OutputCase {
  int64_t T, d, V, S;
  GrpoLossConfig cfg;
  int64_t fd_samples;
  std::string label() const {
    return format("T=%lld d=%lld V=%lld S=%lld temperature=%g kl=", (long long)T, (long long)d, (long long)V, (long long)S,
                  double(cfg.temperature)) +
           (cfg.kl_mask == KlMask::kAll ? "all" : "advantage");
  }
};
inline GrpoLossConfig output_config(float temperature, bool kl_all_tokens) {
  GrpoLossConfig cfg;
  cfg.eps_low = 0.2f;
  cfg.eps_high = 0.28f;
  cfg.beta = 0.1f;
  cfg.temperature = temperature;
  cfg.kl_mask = kl_all_tokens ? KlMask::kAll : KlMask::kAdvantage;
  return cfg;
}
inline const std::vector<OutputCase> kOutputCases = {
    {5, 37, 211, 2, output_config(0.7f, false), 0}, {1, 37, 211, 1, output_config(1.0f, false), 0}, {9, 45, 3001, 3, output_config(1.0f, true), 120}};

// One case's inputs. old/ref log-probs sit at fixed offsets from the true ones, so that the ratio
// r = exp(logp - old) lands above, inside and below the clip range, each far from its kinks.
struct OutputInputs {
  std::vector<float> hidden, lm_head, advantages, weights, old_logp, ref_logp;
  std::vector<int32_t> targets, seq_starts;
  OutputInputs(const OutputCase& c, Rng& rng);
  GrpoLossInputs view(const OutputCase& c) const {
    GrpoLossInputs in;
    in.T = c.T;
    in.d = c.d;
    in.V = c.V;
    in.S = c.S;
    in.hidden = hidden.data();
    in.lm_head = lm_head.data();
    in.targets = targets.data();
    in.seq_starts = seq_starts.data();
    in.advantages = advantages.data();
    in.seq_weights = weights.data();
    in.old_logp = old_logp.data();
    in.ref_logp = ref_logp.data();
    return in;
  }
};

inline Doubles output_logp_reference(const Doubles& hidden, const Doubles& lm_head, const std::vector<int32_t>& targets, int64_t d,
                                     int64_t V, double temperature) {
  Doubles logp(targets.size()), z(static_cast<size_t>(V));
  for (size_t t = 0; t < targets.size(); t++) {
    double mx = -INFINITY, sum = 0.0;
    for (int64_t v = 0; v < V; v++) {
      double s = 0.0;
      for (int64_t i = 0; i < d; i++) s += hidden[t * size_t(d) + size_t(i)] * lm_head[size_t(v * d + i)];
      z[size_t(v)] = s / temperature;
      mx = std::max(mx, z[size_t(v)]);
    }
    for (int64_t v = 0; v < V; v++) sum += std::exp(z[size_t(v)] - mx);
    logp[t] = z[size_t(targets[t])] - mx - std::log(sum);
  }
  return logp;
}

// loss = -sum_i w_i sum_t (min(r A_i, clip(r, 1 - eps_low, 1 + eps_high) A_i) - beta m_i kl),
// r = exp(logp - old), kl = exp(ref - logp) - (ref - logp) - 1, m_i = 1 if A_i > 0 (or klMask "all").
inline double output_loss_reference(const Doubles& logp, const OutputInputs& in, const GrpoLossConfig& cfg) {
  double loss = 0.0;
  for (size_t i = 0; i + 1 < in.seq_starts.size(); i++) {
    const double A = in.advantages[i], w = in.weights[i];
    const double mask = cfg.kl_mask == KlMask::kAll || A > 0 ? 1.0 : 0.0;
    for (int32_t t = in.seq_starts[i]; t < in.seq_starts[i + 1]; t++) {
      const double r = std::exp(logp[size_t(t)] - in.old_logp[size_t(t)]);
      const double clipped = std::min(std::max(r, 1.0 - double(cfg.eps_low)), 1.0 + double(cfg.eps_high));
      const double x = in.ref_logp[size_t(t)] - logp[size_t(t)];
      loss -= w * (std::min(r * A, clipped * A) - double(cfg.beta) * mask * (std::exp(x) - x - 1.0));
    }
  }
  return loss;
}

inline OutputInputs::OutputInputs(const OutputCase& c, Rng& rng)
    : hidden(rng.normal(c.T * c.d)), lm_head(rng.normal(c.V * c.d, 2.0 / std::sqrt(double(c.d)))) {
  for (int64_t t = 0; t < c.T; t++) targets.push_back(int32_t(rng.index(c.V)));
  for (int64_t i = 0; i <= c.S; i++) seq_starts.push_back(int32_t(i * c.T / c.S));
  const float advantage_pattern[] = {0.8f, -1.1f, 0.0f};
  for (int64_t i = 0; i < c.S; i++) {
    advantages.push_back(advantage_pattern[i % 3]);
    weights.push_back(1.0f / float(c.S * (seq_starts[size_t(i + 1)] - seq_starts[size_t(i)])));
  }
  const Doubles logp = output_logp_reference(widen(hidden), widen(lm_head), targets, c.d, c.V, c.cfg.temperature);
  const double old_offsets[] = {-0.6, -0.05, 0.0, 0.1, 0.5};  // r = 1.82, 1.05, 1, 0.90, 0.61
  const std::vector<float> ref_noise = rng.normal(c.T, 0.3);
  for (int64_t t = 0; t < c.T; t++) {
    old_logp.push_back(float(logp[size_t(t)] + old_offsets[t % 5]));
    ref_logp.push_back(float(logp[size_t(t)] + ref_noise[size_t(t)]));
  }
}

inline void check_output_forward(const OutputOps& op) {
  Rng rng(71);
  for (const OutputCase& c : kOutputCases) {
    const OutputInputs in(c, rng);
    const Doubles want = output_logp_reference(widen(in.hidden), widen(in.lm_head), in.targets, c.d, c.V, c.cfg.temperature);
    std::vector<float> logp(size_t(c.T), NAN), logp_loss(size_t(c.T), NAN), d_hidden(size_t(c.T * c.d));
    op.logprobs(in.hidden.data(), in.lm_head.data(), in.targets.data(), c.T, c.d, c.V, c.cfg.temperature, logp.data());
    const float loss = float(op.loss(in.view(c), c.cfg, logp_loss.data(), d_hidden.data()));
    expect_close(c.label() + ": logp", logp.data(), want, kOutputForwardTol);
    expect_close(c.label() + ": logp (loss kernel)", logp_loss.data(), want, kOutputForwardTol);
    expect_close(c.label() + ": loss", &loss, {output_loss_reference(want, in, c.cfg)}, kOutputLossTol);
  }
}

inline void check_output_backward(const OutputOps& op) {
  Rng rng(72);
  for (const OutputCase& c : kOutputCases) {
    const OutputInputs in(c, rng);
    std::vector<float> logp(size_t(c.T)), d_hidden(size_t(c.T * c.d), NAN);
    op.loss(in.view(c), c.cfg, logp.data(), d_hidden.data());
    Doubles hidden = widen(in.hidden);
    const Doubles lm_head = widen(in.lm_head);
    const Doubles fd = central_differences(hidden, 1e-5, [&] {
      return output_loss_reference(output_logp_reference(hidden, lm_head, in.targets, c.d, c.V, c.cfg.temperature), in, c.cfg);
    }, c.fd_samples);
    expect_gradient(c.label() + ": d_hidden", d_hidden.data(), fd, kOutputBackwardTol);
  }
}

}  // namespace spogw::test
