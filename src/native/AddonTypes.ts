// The raw surface of the native addon (native/src/napi). This file is the only description of what the
// .node exports; everything else in TypeScript goes through the typed wrappers in this folder. Inputs
// cross as option objects (node-llama-cpp's AddonTypes.ts style), never as long positional lists; every
// field of them is required.
import type { GrpoLossSettings, OptimizerSettings } from "./settings.js";

export type { GrpoLossSettings, OptimizerSettings } from "./settings.js";

export interface NativeCudaInfo {
  /** The binary contains CUDA code (the "cuda" variant). */
  compiled: boolean;
  /** CUDA runtime version linked into the binary (13000 = 13.0); 0 when not compiled. */
  runtimeVersion: number;
  /** Installed driver's CUDA version; 0 when no driver. */
  driverVersion: number;
  deviceCount: number;
  deviceName: string;
  /** The first device's memory in bytes; 0 without a device. */
  totalMemoryBytes: number;
  /** Why there is no usable device; empty when deviceCount > 0. */
  error: string;
  /** The cuBLAS library loaded at run time, or "unavailable: <reason>". */
  cublas: string;
}

export interface NativeInfo {
  /** Version of the JS-visible addon surface; the loader refuses a binary with another one. */
  abiVersion: number;
  variant: "cpu" | "cuda";
  buildSystem: string;
  /** -march the binary's own code was compiled for ("x86-64-v2" for prebuilds, "native" locally). */
  isaBaseline: string;
  cpuFeatures: string;
  blas: string;
  /** The BLAS kernel picked for this CPU at run time (e.g. "SkylakeX"). */
  blasCore: string;
  /** How the engine's forward pass relates to llama.cpp's on this CPU (bit for bit with AVX-512). */
  engineNumerics: string;
  threads: number;
  hardwareThreads: number;
  cuda: NativeCudaInfo;
}

export interface NativeBinding {
  info(): NativeInfo;
  setThreads(threads: number): number;
  gemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Promise<Float32Array>;
  gemmReference(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transA: boolean, transB: boolean): Promise<Float32Array>;
  /** Fused log-prob + ioGRPO-mKL loss (native/src/napi/loss.cc); shapes derived from the array lengths. */
  grpoLoss(input: GrpoLossArrays & GrpoLossSettings, run: NativeLossRun): Promise<NativeGrpoLossResult>;
  /** log pi(target) at the temperature, per token: [T]. */
  selectiveLogprobs(input: Pick<GrpoLossArrays, "hidden" | "lmHead" | "targets"> & Pick<GrpoLossSettings, "temperature">, run: NativeLossRun): Promise<Float32Array>;
  /** Benchmark only: the loss kernel's two products (lm_head_logits.h) in its tiles, without the row pass. Returns [T, d]. */
  lossGemmsOnly(hidden: Float32Array, lmHead: Float32Array, tokens: number, tileRows: number): Promise<Float32Array>;
  loadEngine(path: string, options: NativeEngineOptions): Promise<NativeEngine>;
}

/** The arrays of a grpoLoss call (row-major, float32 unless said otherwise). */
export interface GrpoLossArrays {
  /** [T, d] final hidden states at the positions that predict each target. */
  hidden: Float32Array;
  /** [V, d] output projection. */
  lmHead: Float32Array;
  /** [T] the response tokens being scored. */
  targets: Int32Array;
  /** [S + 1] response i owns tokens seqStarts[i] .. seqStarts[i+1] - 1 (0 = first < ... < last = T). */
  seqStarts: Int32Array;
  /** [S] A_i. */
  advantages: Float32Array;
  /** [S] w_i (SPOGW: 1 / (G * n * |y_i|)). */
  seqWeights: Float32Array;
  /** [T] log pi_old(target), at the same temperature. */
  oldLogp: Float32Array;
  /** [T] log pi_ref(target), at the same temperature. */
  refLogp: Float32Array;
}

/** Where a loss kernel runs and in what tiles (tileRows 0: the kernel's choice from its memory budget). */
export interface NativeLossRun {
  device: "cpu" | "cuda";
  tileRows: number;
}

/** The native training engine (native/src/napi/engine.cc); src/train/engine.ts wraps it. */
export interface NativeEngineConfig {
  arch: string;
  vocabSize: number;
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffSize: number;
  contextLength: number;
  ropeTheta: number;
  rmsEps: number;
  tiedEmbeddings: boolean;
}

/** Parts of one LoRA pair held natively: weights, accumulated gradients, AdamW moments. */
export type NativeLoraPart = "a" | "b" | "gradA" | "gradB" | "mA" | "vA" | "mB" | "vB";

/** B sequences packed end to end: sequence b is tokens[seqOffsets[b] .. seqOffsets[b+1]). */
export interface NativeSequenceBatch {
  tokens: Int32Array;
  /** [B + 1], from 0 to tokens.length. */
  seqOffsets: Int32Array;
  /** [B] index of each sequence's first response token (>= 1). */
  responseStarts: Int32Array;
}

export interface NativeBackwardBatch extends NativeSequenceBatch {
  /** [B] */
  advantages: Float32Array;
  /** [B] */
  weights: Float32Array;
  /** Log-probs of every response token, sequence after sequence. */
  oldLogp: Float32Array;
  refLogp: Float32Array;
}

export interface NativeBackwardSums {
  loss: number;
  tokens: number;
  clippedLow: number;
  clippedHigh: number;
  klSum: number;
  ratioSum: number;
}

/** One tensor as the engine holds it (see native model.h WeightInfo). */
export interface NativeWeightInfo {
  name: string;
  /** ggml type name: "Q4_K", "F32", ... */
  type: string;
  /** "repack" or "vec_dot" (block types, llama.cpp's kernel for the shape), "q8_0", "float"; "get_rows" (untied token_embd), "vector". */
  kernel: string;
  /** Bytes the engine holds for it. */
  bytes: number;
}

/** Where an engine computes (native/include/spogw/engine/device_engine.h). */
export interface NativeEngineOptions {
  /** "cuda": the CUDA engine on device 0; refused with a clear error in the CPU variant or without a usable device. */
  device: "cpu" | "cuda";
  /** CUDA only: "bf16" products on F16/BF16 weights (training), "f32" throughout (checks). */
  precision: "bf16" | "f32";
}

/** Where an engine computes and, on CUDA, with what. */
export type NativeEngineDeviceInfo =
  | { device: "cpu" }
  | {
      device: "cuda";
      name: string;
      /** "cuBLAS (libcublas.so.13)" or "own tiled GEMM (<why>)". */
      products: string;
      precision: "bf16" | "f32";
      weightBytes: number;
      allocatedBytes: number;
      peakBytes: number;
      freeBytes: number;
      totalBytes: number;
    };

export interface NativeEngine {
  config(): NativeEngineConfig;
  deviceInfo(): NativeEngineDeviceInfo;
  weightInfo(): NativeWeightInfo[];
  logits(tokens: Int32Array): Promise<Float32Array>;
  tokenLogprobs(tokens: Int32Array, from: number, temperature: number): Promise<Float32Array>;
  /** Every sequence's response log-probs, sequence after sequence; each distinct prompt computed once. */
  tokenLogprobsBatch(batch: NativeSequenceBatch, temperature: number): Promise<Float32Array>;
  /** Targets are base tensor names ("blk.0.attn_q.weight"). */
  initLora(rank: number, alpha: number, targets: string[], randomB: boolean, seed: number): void;
  clearLora(): void;
  loraInfo(): { rank: number; alpha: number; step: number; tensors: Array<{ name: string; inFeatures: number; outFeatures: number }> };
  getLoraTensor(name: string, part: NativeLoraPart): Float32Array;
  setLoraTensor(name: string, part: NativeLoraPart, values: Float32Array): void;
  setOptimizerStep(step: number): void;
  backward(batch: NativeBackwardBatch, settings: GrpoLossSettings): Promise<NativeBackwardSums>;
  /** Resolves with the global gradient norm before clipping. */
  optimizerStep(settings: OptimizerSettings): Promise<number>;
  zeroGrad(): void;
  dispose(): void;
}

/** What native grpoLoss resolves with: sums over the call's tokens, so split calls add up. */
export interface NativeGrpoLossResult {
  loss: number;
  logp: Float32Array;
  dHidden: Float32Array;
  tokens: number;
  clippedLow: number;
  clippedHigh: number;
  klSum: number;
  ratioSum: number;
  /** Token rows per tile actually used, and the scratch bytes the kernel allocated for that tile. */
  tileRows: number;
  workspaceBytes: number;
  /** The GEMM behind it: the CPU BLAS, or "cuBLAS (...)" / "own tiled SGEMM (...)" on CUDA. */
  gemm: string;
}

/** Must equal kAbiVersion in native/src/napi/info.cc. */
export const EXPECTED_ABI_VERSION = 5;
