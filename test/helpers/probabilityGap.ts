// The largest gap between the softmax of an engine's logits rows [positions, vocab] and a reference's
// next-token probabilities, over every position and token: how parity tests compare two models.
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
