// The largest gap between the softmax of an engine's logits rows [positions, vocab] and a reference's
// next-token probabilities, over every position and token: how parity tests compare two models. And
// the largest gap between a sampler's probabilities of the tokens it sampled and the training engine's.
import { Engine } from "../../src/train/index.js";

export function maxProbabilityGap(logits: Float32Array, vocab: number, positions: number, reference: (position: number, token: number) => number): number {
  let worst = 0;
  for (let i = 0; i < positions; i++) {
    const row = logits.subarray(i * vocab, (i + 1) * vocab);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    for (let t = 0; t < vocab; t++) worst = Math.max(worst, Math.abs(Math.exp(row[t]! - max) / sum - reference(i, t)));
  }
  return worst;
}

/** A sampled completion with the sampler's log-prob of each of its tokens. */
export interface SampledTokens {
  promptTokens: ArrayLike<number> & Iterable<number>;
  tokens: ArrayLike<number> & Iterable<number>;
  logprobs: ArrayLike<number>;
}

/**
 * The largest |p_sampler - p_engine| over every sampled token of `samples`, the engine loading
 * `modelPath` with `adapter` (a GGUF adapter, or null for the base model), at temperature 1.
 */
export async function maxSampledTokenGap(modelPath: string, adapter: string | null, samples: readonly SampledTokens[]): Promise<{ worst: number; tokens: number }> {
  const engine = await Engine.load(modelPath, { threads: 1 });
  try {
    if (adapter) await engine.loadLora(adapter);
    let worst = 0;
    let tokens = 0;
    for (const s of samples) {
      const engineLogprobs = await engine.tokenLogprobs(Int32Array.from([...s.promptTokens, ...s.tokens]), s.promptTokens.length, 1);
      for (let i = 0; i < s.logprobs.length; i++) worst = Math.max(worst, Math.abs(Math.exp(s.logprobs[i]!) - Math.exp(engineLogprobs[i]!)));
      tokens += s.logprobs.length;
    }
    return { worst, tokens };
  } finally {
    engine.dispose();
  }
}
