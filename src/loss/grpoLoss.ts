// The ioGRPO-mKL loss over the output layer (paper Eq. 3.6; DESIGN.md "Training math"), fused with the
// log-probs and the backward to the hidden states, on the native core. The [T x V] logits are never
// held: the kernel works in token tiles whose size bounds its scratch memory.
import type { GrpoLossArrays, GrpoLossSettings, NativeGrpoLossResult } from "../native/AddonTypes.js";
import { native } from "../native/loadBinding.js";
import { checkSeqStarts, deriveShape, LossInputError, requireFinite, requireFloat32, requireInt32, requireLength } from "./validate.js";

/** The arrays (shapes in GrpoLossArrays) and the loss settings, in one object. */
export interface GrpoLossInput extends GrpoLossArrays, GrpoLossSettings {}

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

/**
 * Checks the arrays' types, lengths and the values that can be checked without scanning hidden/lmHead;
 * throws LossInputError. The settings are checked by the native core, their one owner of ranges.
 */
function validateGrpoLossArrays(input: GrpoLossInput): void {
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
  validateGrpoLossArrays(input);
  const r = await requireNativeLoss().grpoLoss(input, checkRunOptions("grpoLoss", options));
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
 * Malformed arrays (types, lengths, seqStarts, targets outside [0, V), an empty response, non-finite
 * values) reject with a LossInputError, or the core's error for non-finite hidden/lmHead values and
 * for settings out of range (temperature <= 0, ...), before any computation.
 */
export async function grpoLoss(input: GrpoLossInput, options: LossRunOptions = {}): Promise<GrpoLossResult> {
  const { loss, logp, dHidden, stats } = await grpoLossDetailed(input, options);
  return { loss, logp, dHidden, stats };
}

