// The training engine: a GGUF model on the native core with LoRA adapters, log-probs, the ioGRPO-mKL
// backward into the LoRA parameters, AdamW, and adapter files in GGUF (node-llama-cpp / llama.cpp)
// and PEFT (Hugging Face, vLLM) layouts. It reads the same GGUF file node-llama-cpp samples from.
import { existsSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { buildLoraAdapterGguf, encodeGguf, GgufFile, loraAdapterFromGguf, type LoraAdapter } from "../gguf/index.js";
import type {
  GrpoLossSettings,
  NativeEngine,
  NativeEngineConfig,
  NativeEngineDeviceInfo,
  NativeEngineOptions,
  NativeLoraPart,
  NativeSequenceBatch,
  NativeWeightInfo,
  OptimizerSettings,
} from "../native/AddonTypes.js";
import { native, setThreads } from "../native/index.js";
import { writeFileAtomic } from "./atomicWrite.js";
import { peftConfig, peftTensors } from "./peft.js";
import { encodeSafetensors, readSafetensors } from "./safetensors.js";

/** LoRA target projections, in GGUF naming. */
export const LORA_TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** The model's shape as the engine read it from the GGUF file (the issue's `Engine.config`). */
export type EngineConfig = Omit<NativeEngineConfig, "headDim" | "contextLength">;

export interface LoraInitOptions {
  /** LoRA rank r. */
  rank: number;
  /** LoRA alpha; the update is scaled by alpha / r. */
  alpha: number;
  /** Projections to adapt in every layer (default: all seven). */
  targets?: string[];
  /** "zeros": A random, B = 0, so the model starts equal to the base (standard); "random": B random too. */
  init?: "zeros" | "random";
  seed?: number;
}

/** A prompt then a response: the unit the engine groups by shared prompt. */
export interface SequenceItem {
  /** Prompt then response tokens. */
  tokens: Int32Array;
  /** Index of the first response token (>= 1). */
  responseStart: number;
}

export interface BackwardItem extends SequenceItem {
  /** Group-normalised advantage A_i. */
  advantage: number;
  /** w_i = 1 / (G * n * |y_i|) in SPOGW. */
  weight: number;
  /** log pi_old of the response tokens (tokens.length - responseStart values), same temperature. */
  oldLogp: Float32Array;
  /** log pi_ref of the response tokens. */
  refLogp: Float32Array;
}

/** Statistics of one backward call, over its response tokens. */
export interface BackwardStats {
  [name: string]: number;
  tokens: number;
  /** Fraction of tokens where the clipped branch won with r < 1 - epsilon (negative advantage). */
  clipFractionLow: number;
  /** Fraction of tokens where the clipped branch won with r > 1 + epsilonHigh (positive advantage). */
  clipFractionHigh: number;
  /** Mean k3 KL estimate to the reference over all tokens (before beta and the mask). */
  klMean: number;
  /** Mean ratio pi_theta / pi_old. */
  ratioMean: number;
}

const MOMENT_PARTS: NativeLoraPart[] = ["mA", "vA", "mB", "vB"];

export type EngineDevice = "auto" | "cpu" | "cuda";

export interface EngineLoadOptions {
  threads?: number;
  device?: EngineDevice;
  precision?: NativeEngineOptions["precision"];
}

/** "auto": CUDA when the loaded binary has CUDA code and sees a device, else the CPU. */
export function resolveEngineDevice(device: EngineDevice): NativeEngineOptions["device"] {
  if (device !== "auto") return device;
  const { cuda } = native().info();
  return cuda.compiled && cuda.deviceCount > 0 ? "cuda" : "cpu";
}

/** Items packed end to end for the native calls; responseOffsets [B + 1] index their response tokens. */
function packSequences(items: SequenceItem[]): NativeSequenceBatch & { responseOffsets: number[] } {
  const tokens = new Int32Array(items.reduce((n, b) => n + b.tokens.length, 0));
  const seqOffsets = new Int32Array(items.length + 1);
  const responseStarts = new Int32Array(items.length);
  const responseOffsets = [0];
  let at = 0;
  let responses = 0;
  items.forEach((b, i) => {
    tokens.set(b.tokens, at);
    at += b.tokens.length;
    seqOffsets[i + 1] = at;
    responseStarts[i] = b.responseStart;
    responses += Math.max(0, b.tokens.length - b.responseStart);
    responseOffsets.push(responses);
  });
  return { tokens, seqOffsets, responseStarts, responseOffsets };
}

export class Engine {
  private disposed = false;

  private constructor(
    private readonly handle: NativeEngine,
    readonly path: string,
    readonly config: EngineConfig,
  ) {}

  /**
   * Loads a GGUF model (llama or qwen2; F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K,
   * Q5_K or Q6_K weights; CUDA expands Q8_0 and the block types to float32, docs/gpu.md). device "auto" (the default) is
   * CUDA where this binary has CUDA code and a usable device, else the CPU; "cuda" without one is an
   * error that says why. precision applies to CUDA only (docs/gpu.md).
   */
  static async load(path: string, opts: EngineLoadOptions = {}): Promise<Engine> {
    if (opts.threads !== undefined) setThreads(opts.threads);
    const device = resolveEngineDevice(opts.device ?? "auto");
    const handle = await native().loadEngine(path, { device, precision: opts.precision ?? "bf16" });
    const { headDim: _headDim, contextLength: _contextLength, ...config } = handle.config();
    return new Engine(handle, path, config);
  }

  /** Where this engine computes: "cpu", or the CUDA device with its products, precision and memory. */
  deviceInfo(): NativeEngineDeviceInfo {
    return this.native.deviceInfo();
  }

  private get native(): NativeEngine {
    if (this.disposed) throw new Error("this engine has been disposed");
    return this.handle;
  }

  /** Every tensor as the engine holds it: type, llama.cpp's kernel for its products, bytes held. */
  weightInfo(): NativeWeightInfo[] {
    return this.native.weightInfo();
  }

  /** [T, V] logits of every position with the current adapter. */
  async logits(tokens: Int32Array): Promise<Float32Array> {
    return this.native.logits(tokens);
  }

  /** log p(tokens[i] | tokens[<i]) at the temperature (the loss settings' one), for i in [from, T); length T - from. */
  async tokenLogprobs(tokens: Int32Array, from: number, temperature: number): Promise<Float32Array> {
    return this.native.tokenLogprobs(tokens, from, temperature);
  }

  /**
   * tokenLogprobs(tokens, responseStart, temperature) of every item (the same values, bit for bit
   * where the engine reproduces llama.cpp), computing each distinct prompt once: items whose tokens
   * before responseStart are identical run as one group.
   */
  async tokenLogprobsBatch(items: SequenceItem[], temperature: number): Promise<Float32Array[]> {
    if (items.length === 0) return [];
    const packed = packSequences(items);
    const all = await this.native.tokenLogprobsBatch(packed, temperature);
    return items.map((_, i) => all.subarray(packed.responseOffsets[i]!, packed.responseOffsets[i + 1]!));
  }

  /** Starts a fresh adapter (replacing any current one and its optimizer state). */
  initLora(opts: LoraInitOptions): void {
    const targets = opts.targets ?? [...LORA_TARGETS];
    for (const t of targets) {
      if (!(LORA_TARGETS as readonly string[]).includes(t)) throw new Error(`unknown LoRA target "${t}" (use ${LORA_TARGETS.join(", ")})`);
    }
    const names: string[] = [];
    for (let l = 0; l < this.config.layers; l++) for (const t of targets) names.push(`blk.${l}.${t}.weight`);
    this.native.initLora(opts.rank, opts.alpha, names, (opts.init ?? "zeros") === "random", opts.seed ?? 0);
  }

  /** The current adapter as plain arrays (A [r, nIn], B [nOut, r] per target). */
  loraAdapter(): LoraAdapter {
    const info = this.native.loraInfo();
    if (info.tensors.length === 0) throw new Error("no LoRA adapter: call initLora or loadLora first");
    return {
      arch: this.config.arch,
      rank: info.rank,
      alpha: info.alpha,
      pairs: info.tensors.map((t) => ({
        target: t.name, nIn: t.inFeatures, nOut: t.outFeatures,
        a: this.native.getLoraTensor(t.name, "a"), b: this.native.getLoraTensor(t.name, "b"),
      })),
    };
  }

  /**
   * Loads a GGUF LoRA adapter (as written by saveLora or llama.cpp's converter). Checks that it was
   * made for this model's architecture and shapes. With `optimizer: true`, restores the AdamW state
   * saved beside it (PATH.optim.safetensors) when that file exists.
   */
  async loadLora(path: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    const file = GgufFile.open(path);
    let adapter: LoraAdapter;
    try {
      adapter = loraAdapterFromGguf(file);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    } finally {
      file.close();
    }
    if (adapter.arch !== this.config.arch) {
      throw new Error(`${path}: adapter is for architecture "${adapter.arch}" but the model is "${this.config.arch}"`);
    }
    if (adapter.pairs.length === 0) throw new Error(`${path}: the adapter has no LoRA tensors`);
    this.native.initLora(adapter.rank, adapter.alpha, adapter.pairs.map((p) => p.target), false, 0);
    const info = this.native.loraInfo();
    for (const pair of adapter.pairs) {
      const t = info.tensors.find((x) => x.name === pair.target)!;
      if (t.inFeatures !== pair.nIn || t.outFeatures !== pair.nOut) {
        this.native.clearLora();
        throw new Error(`${path}: ${pair.target} is [${pair.nOut} x ${pair.nIn}] in the adapter but [${t.outFeatures} x ${t.inFeatures}] in the model (adapter for another model?)`);
      }
      this.native.setLoraTensor(pair.target, "a", pair.a);
      this.native.setLoraTensor(pair.target, "b", pair.b);
    }
    const optimPath = `${path}.optim.safetensors`;
    if (opts.optimizer && existsSync(optimPath)) this.loadOptimizerState(optimPath);
  }

  /**
   * Writes the adapter. "gguf" (default): one file node-llama-cpp loads, plus PATH.optim.safetensors
   * with the AdamW state so an iteration can resume. "peft": PATH is a directory receiving
   * adapter_model.safetensors and adapter_config.json. Every file is written atomically.
   */
  async saveLora(path: string, opts: { format?: "gguf" | "peft"; baseModelName?: string } = {}): Promise<void> {
    const adapter = this.loraAdapter();
    if ((opts.format ?? "gguf") === "gguf") {
      writeFileAtomic(path, encodeGguf(buildLoraAdapterGguf(adapter, "f32", `spogw-native LoRA for ${basename(this.path)}`)));
      this.saveOptimizerState(`${path}.optim.safetensors`);
      return;
    }
    mkdirSync(path, { recursive: true });
    const shape = { arch: this.config.arch, heads: this.config.heads, kvHeads: this.config.kvHeads, headDim: this.config.hiddenSize / this.config.heads };
    writeFileAtomic(join(path, "adapter_model.safetensors"), encodeSafetensors(peftTensors(adapter, shape), { format: "pt" }));
    writeFileAtomic(join(path, "adapter_config.json"), `${JSON.stringify(peftConfig(adapter, opts.baseModelName ?? basename(this.path)), null, 2)}\n`);
  }

  saveOptimizerState(path: string): void {
    const info = this.native.loraInfo();
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const t of info.tensors) {
      for (const part of MOMENT_PARTS) {
        const data = this.native.getLoraTensor(t.name, part);
        tensors.set(`${t.name}.${part}`, { shape: [data.length], data });
      }
    }
    writeFileAtomic(path, encodeSafetensors(tensors, { step: String(info.step), rank: String(info.rank), alpha: String(info.alpha) }));
  }

  loadOptimizerState(path: string): void {
    const { tensors, metadata } = readSafetensors(path);
    const info = this.native.loraInfo();
    if (Number(metadata.rank) !== info.rank) throw new Error(`${path}: optimizer state is for rank ${metadata.rank}, the adapter has rank ${info.rank}`);
    for (const t of info.tensors) {
      for (const part of MOMENT_PARTS) {
        const entry = tensors.get(`${t.name}.${part}`);
        if (!entry) throw new Error(`${path}: no optimizer state for ${t.name} ${part}`);
        this.native.setLoraTensor(t.name, part, entry.data);
      }
    }
    const step = Number(metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) throw new Error(`${path}: invalid step "${metadata.step}"`);
    this.native.setOptimizerStep(step);
  }

  /** Accumulates LoRA gradients of the ioGRPO-mKL loss over the batch (paper Eq. 3.6). */
  async backward(batch: BackwardItem[], settings: GrpoLossSettings): Promise<{ loss: number; stats: BackwardStats }> {
    if (batch.length === 0) throw new Error("backward: the batch is empty");
    const packed = packSequences(batch);
    const responseTotal = packed.responseOffsets[batch.length]!;
    const advantages = new Float32Array(batch.length);
    const weights = new Float32Array(batch.length);
    const oldLogp = new Float32Array(responseTotal);
    const refLogp = new Float32Array(responseTotal);
    batch.forEach((b, i) => {
      const n = b.tokens.length - b.responseStart;
      if (b.oldLogp.length !== n || b.refLogp.length !== n) {
        throw new Error(`backward: item ${i} has ${n} response tokens but oldLogp has ${b.oldLogp.length} and refLogp ${b.refLogp.length}`);
      }
      advantages[i] = b.advantage;
      weights[i] = b.weight;
      oldLogp.set(b.oldLogp, packed.responseOffsets[i]!);
      refLogp.set(b.refLogp, packed.responseOffsets[i]!);
    });
    const sums = await this.native.backward(
      { tokens: packed.tokens, seqOffsets: packed.seqOffsets, responseStarts: packed.responseStarts, advantages, weights, oldLogp, refLogp },
      settings);
    const n = Math.max(1, sums.tokens);
    return {
      loss: sums.loss,
      stats: {
        tokens: sums.tokens,
        clipFractionLow: sums.clippedLow / n,
        clipFractionHigh: sums.clippedHigh / n,
        klMean: sums.klSum / n,
        ratioMean: sums.ratioSum / n,
      },
    };
  }

  /** Accumulated gradients keyed like the GGUF tensors ("blk.0.attn_q.weight.lora_a"), same layout. */
  async loraGradients(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const t of this.native.loraInfo().tensors) {
      out[`${t.name}.lora_a`] = this.native.getLoraTensor(t.name, "gradA");
      out[`${t.name}.lora_b`] = this.native.getLoraTensor(t.name, "gradB");
    }
    return out;
  }

  /** AdamW on the LoRA parameters after global-norm clipping; then zeroes the gradients. */
  async optimizerStep(settings: OptimizerSettings): Promise<{ gradNorm: number }> {
    return { gradNorm: await this.native.optimizerStep(settings) };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.handle.dispose();
  }
}
