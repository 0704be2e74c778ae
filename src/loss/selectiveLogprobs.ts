// log pi(target) at the sampling temperature for each token, computed tile by tile over the output
// layer without holding the [T x V] logits: the no-gradient pass for pi_old and pi_ref.
import { checkRunOptions, requireNativeLoss, type LossRunOptions } from "./grpoLoss.js";
import { deriveShape, LossInputError, requireFloat32, requireInt32, requireTemperature } from "./validate.js";

export interface SelectiveLogprobsInput {
  /** [T, d] hidden states at the positions that predict each target. */
  hidden: Float32Array;
  /** [V, d] output projection, row-major. */
  lmHead: Float32Array;
  /** [T] the tokens to score. */
  targets: Int32Array;
  /** Logits are divided by it (> 0). */
  temperature: number;
}

/** [T] log-softmax(hidden lmHead^T / temperature)[t, targets[t]]. Rejects on malformed input. */
export async function selectiveLogprobs(input: SelectiveLogprobsInput, options: LossRunOptions = {}): Promise<Float32Array> {
  const fn = "selectiveLogprobs";
  if (typeof input !== "object" || input === null) throw new LossInputError(`${fn}: input must be an object`);
  requireFloat32(fn, "hidden", input.hidden);
  requireFloat32(fn, "lmHead", input.lmHead);
  requireInt32(fn, "targets", input.targets);
  deriveShape(fn, input.hidden, input.lmHead, input.targets);
  requireTemperature(fn, input.temperature);
  return requireNativeLoss().selectiveLogprobs(input, checkRunOptions(fn, options));
}
