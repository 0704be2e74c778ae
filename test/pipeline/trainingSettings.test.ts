// The run config's loss and optimizer fields become the engine's settings in one place: an unset
// epsilonHigh is epsilon there (and only there), every other field is carried over as given.
import { describe, expect, it } from "vitest";
import { lossSettingsOf, optimizerSettingsOf } from "../../src/pipeline/index.js";

describe("training settings from the run config", () => {
  it("loss: an unset epsilonHigh is epsilon; a set one is kept", () => {
    const fields = { epsilon: 0.15, beta: 0.3, temperature: 0.8, klMask: "all" as const };
    expect(lossSettingsOf({ ...fields, epsilonHigh: null })).toEqual({ ...fields, epsilonHigh: 0.15 });
    expect(lossSettingsOf({ ...fields, epsilonHigh: 0.28 })).toEqual({ ...fields, epsilonHigh: 0.28 });
  });

  it("optimizer: the run's AdamW fields, under the names the engine takes", () => {
    const run = { learningRate: 3e-5, weightDecay: 0.01, adamBeta1: 0.8, adamBeta2: 0.95, maxGradNorm: 0.5 };
    expect(optimizerSettingsOf(run)).toEqual({ lr: 3e-5, weightDecay: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-8, maxGradNorm: 0.5 });
  });
});
