// An independent float64 transcription of the ioGRPO-mKL loss (DESIGN.md "Training math", paper Eq.
// 3.4-3.6) and its gradient with respect to the hidden states, plus the seeded random cases the tests
// feed to both it and the native kernel. Written from the formulas, not from the kernel's code.
import type { GrpoLossInput } from "../../src/index.js";

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

export interface Reference {
  loss: number;
  logp: Float64Array;
  dHidden: Float64Array;
  /** d loss / d logp per token. */
  g: Float64Array;
  clippedLow: number;
  clippedHigh: number;
  inside: number;
  klMean: number;
  ratioMean: number;
}

/** Scaled logits z = hidden_t . lmHead_j / temperature of token t, with their log-sum-exp. */
function logitsRow(input: Pick<GrpoLossInput, "hidden" | "lmHead" | "temperature">, t: number, d: number, V: number): { z: Float64Array; lse: number } {
  const z = new Float64Array(V);
  let max = -Infinity;
  for (let j = 0; j < V; j++) {
    let acc = 0;
    for (let k = 0; k < d; k++) acc += input.hidden[t * d + k]! * input.lmHead[j * d + k]!;
    z[j] = acc / input.temperature;
    if (z[j]! > max) max = z[j]!;
  }
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(z[j]! - max);
  return { z, lse: max + Math.log(sum) };
}

export function referenceLogprobs(input: Pick<GrpoLossInput, "hidden" | "lmHead" | "targets" | "temperature">): Float64Array {
  const T = input.targets.length;
  const d = input.hidden.length / T;
  const V = input.lmHead.length / d;
  const out = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const { z, lse } = logitsRow(input, t, d, V);
    out[t] = z[input.targets[t]!]! - lse;
  }
  return out;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

export function referenceGrpoLoss(input: GrpoLossInput): Reference {
  const T = input.targets.length;
  const d = input.hidden.length / T;
  const V = input.lmHead.length / d;
  const epsLow = input.epsilon;
  const epsHigh = input.epsilonHigh;
  const logp = new Float64Array(T);
  const g = new Float64Array(T);
  const dHidden = new Float64Array(T * d);
  let loss = 0, clippedLow = 0, clippedHigh = 0, inside = 0, klSum = 0, ratioSum = 0;
  for (let i = 0; i + 1 < input.seqStarts.length; i++) {
    const A = input.advantages[i]!;
    const w = input.seqWeights[i]!;
    const m = input.klMask === "all" || A > 0 ? 1 : 0;
    for (let t = input.seqStarts[i]!; t < input.seqStarts[i + 1]!; t++) {
      const { z, lse } = logitsRow(input, t, d, V);
      const target = input.targets[t]!;
      logp[t] = z[target]! - lse;
      // ratio, clipped to the trust region; min(unclipped, clipped) with ties going to the unclipped
      // branch, whose derivative in logp is r A (r = e^(logp - old))
      const logRatio = logp[t]! - input.oldLogp[t]!;
      const r = Math.exp(clamp(logRatio, -20, 20));
      const rClip = clamp(r, 1 - epsLow, 1 + epsHigh);
      const unclipped = r * A;
      const clippedValue = rClip * A;
      const useUnclipped = unclipped <= clippedValue;
      const surr = useUnclipped ? unclipped : clippedValue;
      const dSurr = useUnclipped && Math.abs(logRatio) <= 20 ? r * A : 0;
      if (!useUnclipped && r < 1 - epsLow) clippedLow++;
      else if (!useUnclipped && r > 1 + epsHigh) clippedHigh++;
      else inside++;
      // k3: e^x - x - 1 with x = ref - logp; d/dlogp = 1 - e^x
      const xRaw = input.refLogp[t]! - logp[t]!;
      const x = clamp(xRaw, -20, 20);
      const kl = Math.exp(x) - x - 1;
      const dKl = Math.abs(xRaw) <= 20 ? 1 - Math.exp(x) : 0;
      loss += -w * (surr - input.beta * m * kl);
      g[t] = -w * (dSurr - input.beta * m * dKl);
      klSum += kl;
      ratioSum += r;
      // dHidden_t = sum_j g (onehot_j - softmax_j) / temperature * lmHead_j
      for (let j = 0; j < V; j++) {
        const dz = (g[t]! / input.temperature) * ((j === target ? 1 : 0) - Math.exp(z[j]! - lse));
        for (let k = 0; k < d; k++) dHidden[t * d + k] = dHidden[t * d + k]! + dz * input.lmHead[j * d + k]!;
      }
    }
  }
  return { loss, logp, dHidden, g, clippedLow, clippedHigh, inside, klMean: klSum / T, ratioMean: ratioSum / T };
}

export interface CaseSpec {
  T: number;
  d: number;
  V: number;
  /** responses; token counts are split as evenly as the sizes allow */
  S: number;
  seed: number;
  temperature: number;
  beta: number;
  klMask: "advantage" | "all";
  epsilon?: number;
  epsilonHigh?: number;
  /** advantages by response, cycled; default mixes positive, negative and zero */
  advantages?: number[];
}

/**
 * A random input whose logits have three large outliers per token (lmHead rows aligned with that
 * token's hidden state), one of them the target for every third token, so the softmax is far from
 * flat. oldLogp = true logp + an offset cycling through values that put r below, inside and above the
 * clip range (never near its edges); refLogp = true logp + noise.
 */
export function makeCase(spec: CaseSpec): GrpoLossInput {
  const { T, d, V, S } = spec;
  const next = rng(spec.seed);
  const hidden = new Float32Array(T * d).map(() => gaussian(next));
  const lmHead = new Float32Array(V * d).map(() => (0.5 * gaussian(next)) / Math.sqrt(d));
  const targets = new Int32Array(T).map(() => Math.floor(next() * V));
  for (let t = 0; t < T; t++) {
    let norm2 = 0;
    for (let k = 0; k < d; k++) norm2 += hidden[t * d + k]! ** 2;
    for (let o = 0; o < 3; o++) {
      const j = o === 0 && t % 3 === 0 ? targets[t]! : Math.floor(next() * V);
      const logit = 6 + 6 * next(); // raw logit 6..12, far above the bulk (about N(0, 0.5 |h|))
      for (let k = 0; k < d; k++) lmHead[j * d + k] = (logit * hidden[t * d + k]!) / norm2;
    }
  }
  const seqStarts = new Int32Array(S + 1).map((_, i) => Math.round((i * T) / S));
  const advs = spec.advantages ?? [1.3, -0.8, 0, 0.4, -1.7];
  const advantages = new Float32Array(S).map((_, i) => advs[i % advs.length]!);
  const seqWeights = new Float32Array(S).map((_, i) => 1 / (S * (seqStarts[i + 1]! - seqStarts[i]!)));
  const input: GrpoLossInput = {
    hidden, lmHead, targets, seqStarts, advantages, seqWeights,
    oldLogp: new Float32Array(T), refLogp: new Float32Array(T),
    epsilon: spec.epsilon ?? 0.2, epsilonHigh: spec.epsilonHigh ?? 0.28,
    beta: spec.beta, temperature: spec.temperature, klMask: spec.klMask,
  };
  const logp = referenceLogprobs(input);
  // r = exp(-offset): 1.82 (above 1 + 0.28), 1.11 and 1 and 0.95 (inside), 0.55 (below 1 - 0.2)
  const offsets = [-0.6, -0.1, 0, 0.05, 0.6];
  for (let t = 0; t < T; t++) {
    input.oldLogp[t] = logp[t]! + offsets[(t + Math.floor(t / 5)) % offsets.length]!;
    input.refLogp[t] = logp[t]! + 0.4 * gaussian(next);
  }
  return input;
}

/** max |a - b| / max |b| (0 when both are all zero). */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}
