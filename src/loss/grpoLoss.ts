// The ioGRPO-mKL loss over the output layer (paper Eq. 3.6; DESIGN.md "Training math"), fused with the
// log-probs and the backward to the hidden states, on the native core. The [T x V] logits are never
// held: the kernel works in token tiles whose size bounds its scratch memory.
import type { NativeGrpoLossResult } from "../native/AddonTypes.js";
import { native } from "../native/loadBinding.js";
import {
  checkSeqStarts,
  deriveShape,
  LossInputError,
  requireFinite,
  requireFloat32,
  requireInt32,
  requireLength,
  requireNumber,
  requireTemperature,
} from "./validate.js";

export interface GrpoLossInput {
  /** [T, d] final hidden states at the positions that predict each target. */
  hidden: Float32Array;
  /** [V, d] output projection, row-major. */
  lmHead: Float32Array;
  /** [T] the response tokens being scored. */
  targets: Int32Array;
  /** [S + 1] response i owns tokens seqStarts[i] .. seqStarts[i+1] - 1. */
  seqStarts: Int32Array;
  /** [S] A_i. */
  advantages: Float32Array;
  /** [S] w_i (SPOGW: 1 / (G * n * |y_i|)). */
  seqWeights: Float32Array;
  /** [T] log pi_old(target), at the same temperature. */
  oldLogp: Float32Array;
  /** [T] log pi_ref(target), at the same temperature. */
  refLogp: Float32Array;
  /** Clip range [1 - epsilon, 1 + epsilonHigh]; epsilonHigh defaults to epsilon. */
  epsilon: number;
  epsilonHigh?: number;
  /** KL coefficient (>= 0). */
  beta: number;
  /** Sampling temperature: logits are divided by it (> 0). */
  temperature: number;
  /** "advantage": KL only on responses with A_i > 0 (mKL); "all": on every token. */
  klMask: "advantage" | "all";
}

export interface GrpoLossStats {
  /** Fraction of tokens where the clipped branch won with r < 1 - epsilon (A < 0). */
  clipFractionLow: number;
  /** Fraction of tokens where the clipped branch won with r > 1 + epsilonHigh (A > 0). */
  clipFractionHigh: number;
  /** Mean of the k3 KL estimate over all tokens (before the mask and beta). */
  klMean: number;
  /** Mean of r = pi_theta / pi_old over all tokens. */
  ratioMean: number;
}

export interface GrpoLossResult {
  /** -sum_i w_i sum_t (min(r A_i, clip(r) A_i) - beta m_i kl). */
  loss: number;
  /** [T] log pi_theta(target) at the temperature. */
  logp: Float32Array;
  /** [T, d] d loss / d hidden. */
  dHidden: Float32Array;
  stats: GrpoLossStats;
}

export interface LossRunOptions {
  /** Where to run: "cpu" (default) or "cuda" (needs the CUDA binary and a device). */
  device?: "cpu" | "cuda";
  /** Token rows per tile; 0 or absent lets the kernel choose from its memory budget. */
  tileRows?: number;
}

/** Checks everything that can be checked without scanning hidden/lmHead; throws LossInputError. */
function validateGrpoLossInput(input: GrpoLossInput): { epsilonHigh: number; klAllTokens: boolean } {
  const fn = "grpoLoss";
  if (typeof input !== "object" || input === null) throw new LossInputError(`${fn}: input must be an object`);
  requireFloat32(fn, "hidden", input.hidden);
  requireFloat32(fn, "lmHead", input.lmHead);
  requireInt32(fn, "targets", input.targets);
  requireInt32(fn, "seqStarts", input.seqStarts);
  requireFloat32(fn, "advantages", input.advantages);
  requireFloat32(fn, "seqWeights", input.seqWeights);
  requireFloat32(fn, "oldLogp", input.oldLogp);
  requireFloat32(fn, "refLogp", input.refLogp);
  const { T } = deriveShape(fn, input.hidden, input.lmHead, input.targets);
  const S = checkSeqStarts(fn, input.seqStarts, T);
  requireLength(fn, "advantages", input.advantages, S, "one per response, S = seqStarts.length - 1");
  requireLength(fn, "seqWeights", input.seqWeights, S, "one per response, S = seqStarts.length - 1");
  requireLength(fn, "oldLogp", input.oldLogp, T, "one per token, T = targets.length");
  requireLength(fn, "refLogp", input.refLogp, T, "one per token, T = targets.length");
  requireFinite(fn, "advantages", input.advantages);
  requireFinite(fn, "seqWeights", input.seqWeights);
  requireFinite(fn, "oldLogp", input.oldLogp);
  requireFinite(fn, "refLogp", input.refLogp);
  requireNumber(fn, "epsilon", input.epsilon, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  const epsilonHigh = input.epsilonHigh === undefined ? input.epsilon
    : requireNumber(fn, "epsilonHigh", input.epsilonHigh, (v) => v >= 0, "a finite number >= 0");
  requireNumber(fn, "beta", input.beta, (v) => v >= 0, "a finite number >= 0");
  requireTemperature(fn, input.temperature);
  if (input.klMask !== "advantage" && input.klMask !== "all") {
    throw new LossInputError(`${fn}: klMask must be "advantage" or "all" (got ${JSON.stringify(input.klMask)})`);
  }
  return { epsilonHigh, klAllTokens: input.klMask === "all" };
}

export function checkRunOptions(fn: string, options: LossRunOptions): { device: "cpu" | "cuda"; tileRows: number } {
  const device = options.device ?? "cpu";
  if (device !== "cpu" && device !== "cuda") throw new LossInputError(`${fn}: device must be "cpu" or "cuda" (got ${String(device)})`);
  const tileRows = options.tileRows ?? 0;
  if (!Number.isInteger(tileRows) || tileRows < 0) throw new LossInputError(`${fn}: tileRows must be a whole number >= 0 (got ${tileRows})`);
  return { device, tileRows };
}

/** The binding, refusing a stale build that predates the loss kernel. */
export function requireNativeLoss(): ReturnType<typeof native> {
  const binding = native();
  if (typeof binding.grpoLoss !== "function" || typeof binding.selectiveLogprobs !== "function") {
    throw new Error("the loaded native binary has no loss kernel (a stale build): run `npm run build:native`");
  }
  return binding;
}

/** grpoLoss plus what the kernel reports about itself (tile rows, scratch bytes); for benchmarks. */
export async function grpoLossDetailed(input: GrpoLossInput, options: LossRunOptions = {}): Promise<GrpoLossResult & { native: NativeGrpoLossResult }> {
  const { epsilonHigh, klAllTokens } = validateGrpoLossInput(input);
  const { device, tileRows } = checkRunOptions("grpoLoss", options);
  const r = await requireNativeLoss().grpoLoss(
    input.hidden, input.lmHead, input.targets, input.seqStarts, input.advantages, input.seqWeights,
    input.oldLogp, input.refLogp, input.epsilon, epsilonHigh, input.beta, input.temperature, klAllTokens,
    device, tileRows,
  );
  const stats: GrpoLossStats = {
    clipFractionLow: r.clippedLow / r.tokens,
    clipFractionHigh: r.clippedHigh / r.tokens,
    klMean: r.klSum / r.tokens,
    ratioMean: r.ratioSum / r.tokens,
  };
  return { loss: r.loss, logp: r.logp, dHidden: r.dHidden, stats, native: r };
}

/**
 * Loss, per-token log-probs and d loss / d hidden for a batch of responses, in one fused native pass.
 * Malformed input (lengths, seqStarts, targets outside [0, V), non-finite values, temperature <= 0,
 * an empty response, parameters out of range) rejects with a LossInputError (or the core's Error for
 * non-finite hidden/lmHead values) before any computation.
 */
export async function grpoLoss(input: GrpoLossInput, options: LossRunOptions = {}): Promise<GrpoLossResult> {
  const { loss, logp, dHidden, stats } = await grpoLossDetailed(input, options);
  return { loss, logp, dHidden, stats };
}

