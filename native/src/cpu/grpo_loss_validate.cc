// Input checks for the fused loss and the selective log-prob pass (spogw/grpo_loss.h), in a file of their
// own: every backend (grpo_loss.cc, grpo_loss_reference.cc, cuda/grpo_loss.cu) runs the same checks
// without reaching into another backend's file. Each names the argument, what was found and what is
// needed. The engine calls the *_unchecked kernels instead and checks what it passes itself, once.
#include <cmath>
#include <string>

#include "spogw/error.h"
#include "spogw/finite.h"
#include "spogw/grpo_loss.h"

namespace spogw {

namespace {

void require_ptr(const char* fn, const char* name, const void* p) {
  if (p == nullptr) throw Error(std::string(fn) + ": " + name + " is missing (null pointer)");
}

void validate_shapes(const char* fn, const float* hidden, const float* lm_head, const int32_t* targets,
                     int64_t T, int64_t d, int64_t V) {
  require_ptr(fn, "hidden", hidden);
  require_ptr(fn, "lmHead", lm_head);
  require_ptr(fn, "targets", targets);
  if (T < 1) throw Error(std::string(fn) + ": there are no tokens (T = " + std::to_string(T) + ")");
  if (d < 1) throw Error(std::string(fn) + ": hidden size d must be at least 1 (got " + std::to_string(d) + ")");
  if (V < 1) throw Error(std::string(fn) + ": vocabulary size V must be at least 1 (got " + std::to_string(V) + ")");
  // gemm() takes 32-bit sizes; the tile of one row must be allocatable.
  if (V > INT32_MAX || d > INT32_MAX || T > INT32_MAX)
    throw Error(std::string(fn) + ": T, d and V must each be below 2^31");
  checked_mul(T, d, "hidden [T, d]");
  checked_mul(V, d, "lmHead [V, d]");
  for (int64_t t = 0; t < T; t++) {
    if (targets[t] < 0 || targets[t] >= V)
      throw Error(std::string(fn) + ": targets[" + std::to_string(t) + "] = " + std::to_string(targets[t]) +
                  " is outside the vocabulary [0, " + std::to_string(V) + ")");
  }
}

}  // namespace

void check_temperature(const char* fn, float temperature) {
  if (!std::isfinite(temperature) || temperature <= 0.0f)
    throw Error(std::string(fn) + ": temperature must be a finite number > 0 (got " + number_str(temperature) + ")");
}

void check_loss_config(const char* fn, const GrpoLossConfig& cfg) {
  const std::string f(fn);
  if (!std::isfinite(cfg.eps_low) || cfg.eps_low < 0.0f || cfg.eps_low > 1.0f)
    throw Error(f + ": epsilon must be a number in [0, 1] (got " + number_str(cfg.eps_low) + ")");
  if (!std::isfinite(cfg.eps_high) || cfg.eps_high < 0.0f)
    throw Error(f + ": epsilonHigh must be a finite number >= 0 (got " + number_str(cfg.eps_high) + ")");
  if (!std::isfinite(cfg.beta) || cfg.beta < 0.0f)
    throw Error(f + ": beta must be a finite number >= 0 (got " + number_str(cfg.beta) + ")");
  check_temperature(fn, cfg.temperature);
  if (cfg.kl_mask != KlMask::kAdvantage && cfg.kl_mask != KlMask::kAll)
    throw Error(f + ": klMask must be \"advantage\" or \"all\" (it is not set)");
}

void selective_logprobs_validate(const float* hidden, const float* lm_head, const int32_t* targets,
                                 int64_t T, int64_t d, int64_t V, float temperature, const float* out) {
  const char* fn = "selectiveLogprobs";
  validate_shapes(fn, hidden, lm_head, targets, T, d, V);
  require_ptr(fn, "output", out);
  check_temperature(fn, temperature);
  require_finite(fn, "hidden", hidden, T * d);
  require_finite(fn, "lmHead", lm_head, V * d);
}

void grpo_loss_validate(const GrpoLossInputs& in, const GrpoLossConfig& cfg, const GrpoLossOutputs& out) {
  const char* fn = "grpoLoss";
  validate_shapes(fn, in.hidden, in.lm_head, in.targets, in.T, in.d, in.V);
  require_ptr(fn, "seqStarts", in.seq_starts);
  require_ptr(fn, "advantages", in.advantages);
  require_ptr(fn, "seqWeights", in.seq_weights);
  require_ptr(fn, "oldLogp", in.old_logp);
  require_ptr(fn, "refLogp", in.ref_logp);
  require_ptr(fn, "logp output", out.logp);
  require_ptr(fn, "dHidden output", out.d_hidden);
  check_loss_config(fn, cfg);
  if (in.S < 1) throw Error("grpoLoss: there must be at least one response (seqStarts needs S + 1 >= 2 entries)");
  if (in.S > in.T) throw Error("grpoLoss: " + std::to_string(in.S) + " responses but only " + std::to_string(in.T) + " tokens; every response needs at least one token");
  if (in.seq_starts[0] != 0) throw Error("grpoLoss: seqStarts[0] must be 0 (got " + std::to_string(in.seq_starts[0]) + ")");
  for (int64_t i = 0; i < in.S; i++) {
    if (in.seq_starts[i + 1] <= in.seq_starts[i])
      throw Error("grpoLoss: response " + std::to_string(i) + " is empty or seqStarts decreases there (seqStarts[" +
                  std::to_string(i) + "] = " + std::to_string(in.seq_starts[i]) + ", seqStarts[" + std::to_string(i + 1) +
                  "] = " + std::to_string(in.seq_starts[i + 1]) + "); seqStarts must increase strictly from 0 to T");
  }
  if (in.seq_starts[in.S] != in.T)
    throw Error("grpoLoss: seqStarts must end at T = " + std::to_string(in.T) + " (the number of targets), got " +
                std::to_string(in.seq_starts[in.S]));
  require_finite(fn, "advantages", in.advantages, in.S);
  require_finite(fn, "seqWeights", in.seq_weights, in.S);
  require_finite(fn, "oldLogp", in.old_logp, in.T);
  require_finite(fn, "refLogp", in.ref_logp, in.T);
  require_finite(fn, "hidden", in.hidden, in.T * in.d);
  require_finite(fn, "lmHead", in.lm_head, in.V * in.d);
}

}  // namespace spogw
