// How far the sampler's probabilities were from the training engine's on the same tokens: the proof,
// per run, that sampling (pi_old on the server) and training (pi_theta here) saw the same model. The
// sampler's log-probs are those a generator server returned with each sample (vLLM's default and
// `serve`'s: temperature 1, before any sampling filter); the engine's are the stored policy log-probs
// of the update, at the run's temperature, so the two compare only when that temperature is 1.
import { sampleKey, type RunStore } from "./runStore.js";

export interface SamplerGap {
  /** Tokens compared: those of responses the update scored that came with the sampler's log-probs. */
  tokens: number;
  /** Largest |p_sampler - p_engine| over those tokens. */
  maxAbsProb: number;
  maxAbsLogprob: number;
  meanAbsLogprob: number;
}

/** The gap over iteration `iteration`'s samples, or null when nothing is comparable (see above). */
export function samplerGap(store: RunStore, iteration: number, temperature: number): SamplerGap | null {
  if (temperature !== 1) return null;
  const engine = store.logprobs(iteration);
  let tokens = 0;
  let maxAbsProb = 0;
  let maxAbsLogprob = 0;
  let sumAbsLogprob = 0;
  for (const sample of store.samples(iteration)) {
    const sampler = sample.samplerLogprobs;
    const policy = engine.get(sampleKey(sample.queryId, sample.sampleIndex))?.policy;
    if (!sampler || !policy || sampler.length !== policy.length) continue;
    for (let i = 0; i < sampler.length; i++) {
      const gap = Math.abs(sampler[i]! - policy[i]!);
      maxAbsLogprob = Math.max(maxAbsLogprob, gap);
      sumAbsLogprob += gap;
      maxAbsProb = Math.max(maxAbsProb, Math.abs(Math.exp(sampler[i]!) - Math.exp(policy[i]!)));
    }
    tokens += sampler.length;
  }
  return tokens === 0 ? null : { tokens, maxAbsProb, maxAbsLogprob, meanAbsLogprob: sumAbsLogprob / tokens };
}
