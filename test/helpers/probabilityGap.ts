// The largest gap between the softmax of an engine's logits rows [positions, vocab] and a reference's
// next-token probabilities, over every position and token: how parity tests compare two models. And
// the largest gap between a sampler's probabilities of the tokens it sampled and the training engine's.
import { Engine } from "../../src/train/index.js";

/**
 * The gap allowed between the engine and llama.cpp (F32 KV cache) on the same model and tokens. The
 * engine reproduces llama.cpp's arithmetic, so what is left comes from the two softmaxes: at most 1.2e-6
 * measured on float and Q8_0 weights and 1.9e-6 on the block-quantized ones (Q5_K), over every
 * architecture of test/train/engineParity.test.ts (which prints them), which also shows
 * that llama.cpp running the model with RMSNorm's eps 10% larger, a gap the earlier 1e-4 let through,
 * fails it.
 */
export const PROBABILITY_GAP_TOLERANCE = 5e-6;

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
