// The run config's loss and optimizer fields as the settings the engine takes (src/native/settings.ts),
// resolved here and nowhere else: the only place a run's unset epsilonHigh becomes epsilon.
import type { GrpoLossSettings, OptimizerSettings } from "../train/index.js";
import type { RunConfig } from "./config.js";

/**
 * AdamW's eps. Not a run setting (RunConfig has no field for it): PyTorch's default, used as is by
 * every run; it lives here, once, until the run config exposes it.
 */
export const ADAM_EPS = 1e-8;

export function lossSettingsOf(config: Pick<RunConfig, "epsilon" | "epsilonHigh" | "beta" | "temperature" | "klMask">): GrpoLossSettings {
  return {
    epsilon: config.epsilon,
    epsilonHigh: config.epsilonHigh ?? config.epsilon,
    beta: config.beta,
    temperature: config.temperature,
    klMask: config.klMask,
  };
}

export function optimizerSettingsOf(config: Pick<RunConfig, "learningRate" | "weightDecay" | "adamBeta1" | "adamBeta2" | "maxGradNorm">): OptimizerSettings {
  return {
    lr: config.learningRate,
    weightDecay: config.weightDecay,
    beta1: config.adamBeta1,
    beta2: config.adamBeta2,
    eps: ADAM_EPS,
    maxGradNorm: config.maxGradNorm,
  };
}
