// The loss and optimizer settings. Each field is declared and documented once, here; the pipeline
// resolves them once from the run config (src/pipeline/trainingSettings.ts); the engine and the loss
// API pass them whole across the N-API line, where one reader each takes them
// (native/src/napi/settings.cc). Every field is required: nothing between the run config and the
// native core fills one in, and the core checks each value's range.

/** The ioGRPO-mKL loss (paper Eq. 3.6; DESIGN.md "Training math"). */
export interface GrpoLossSettings {
  /** The ratio is clipped below at 1 - epsilon; in [0, 1] (PPO's epsilon, 0.2 in the paper's setup). */
  epsilon: number;
  /** The ratio is clipped above at 1 + epsilonHigh; >= 0 (equal to epsilon for the symmetric clip). */
  epsilonHigh: number;
  /** KL coefficient, >= 0 (the paper uses 0.1; 0 drops the KL term). */
  beta: number;
  /** Sampling temperature, > 0: logits are divided by it, for pi_theta as for pi_old and pi_ref. */
  temperature: number;
  /** "advantage": the KL term applies only to responses with A_i > 0 (the paper's mKL); "all": to every token. */
  klMask: "advantage" | "all";
}

/**
 * AdamW after clipping by the global gradient norm: torch.optim.AdamW's update and
 * torch.nn.utils.clip_grad_norm_'s clipping (native/src/engine/adamw.h gives the formulas).
 */
export interface OptimizerSettings {
  /** Learning rate, >= 0. */
  lr: number;
  /** Decoupled weight decay, >= 0 (scaled by lr, as in PyTorch). */
  weightDecay: number;
  /** First-moment decay, in [0, 1). */
  beta1: number;
  /** Second-moment decay, in [0, 1). */
  beta2: number;
  /** Added to sqrt(v_hat) in the denominator, > 0. */
  eps: number;
  /** Clip the global gradient norm to this, > 0; 0 turns clipping off. */
  maxGradNorm: number;
}
