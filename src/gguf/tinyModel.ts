// Deterministic random test models in GGUF (llama and qwen2 architectures) that llama.cpp loads and
// runs. They are the project's stand-in for downloaded models and the reference for parity tests of
// the native engine, so every tensor is listed below with its shape.
//
// Shapes, in ggml order (ne[0] first = the contiguous dimension; a row-major PyTorch matrix
// [out, in] is written as [in, out] with identical bytes). hd = embd / heads, V = vocab size (275):
//
//   token_embd.weight          [embd, V]           N(0, 0.3^2)
//   output_norm.weight         [embd]              1 + N(0, 0.1^2), always F32
//   output.weight              [embd, V]           N(0, 0.3^2); absent when tied (llama.cpp then reuses token_embd)
//   blk.N.attn_norm.weight     [embd]              1 + N(0, 0.1^2), always F32
//   blk.N.attn_q.weight        [embd, heads*hd]    N(0, 1/embd)
//   blk.N.attn_k.weight        [embd, kvHeads*hd]  N(0, 1/embd)
//   blk.N.attn_v.weight        [embd, kvHeads*hd]  N(0, 1/embd)
//   blk.N.attn_q.bias          [heads*hd]          qwen2 only, N(0, 0.1^2), always F32
//   blk.N.attn_k.bias          [kvHeads*hd]        qwen2 only, N(0, 0.1^2), always F32
//   blk.N.attn_v.bias          [kvHeads*hd]        qwen2 only, N(0, 0.1^2), always F32
//   blk.N.attn_output.weight   [heads*hd, embd]    N(0, 1/(heads*hd))
//   blk.N.ffn_norm.weight      [embd]              1 + N(0, 0.1^2), always F32
//   blk.N.ffn_gate.weight      [embd, ff]          N(0, 1/embd)
//   blk.N.ffn_up.weight        [embd, ff]          N(0, 1/embd)
//   blk.N.ffn_down.weight      [ff, embd]          N(0, 1/ff)
//
// With dtype f16, bf16 or q8_0 the 2-D weights have that type; 1-D tensors stay F32 because llama.cpp
// aborts on F16 norms. q8_0 needs embd and ff to be multiples of 32 (the block size).
// How llama.cpp runs these files (checked position by position by test/generator/referenceForward.ts):
// RoPE over the whole head, llama rotating adjacent pairs (2i, 2i+1), qwen2 rotating (i, i + hd/2);
// query head h uses key/value head floor(h / (heads / kvHeads)); SwiGLU MLP; RMSNorm with the eps below.
// Each tensor's values come from its own stream seeded by (seed, tensor name).
import { writeGgufFile, type GgufFileToWrite, type GgufTensorToWrite } from "./writer.js";
import { gguf } from "./metadata.js";
import { SeededRandom } from "../util/seededRandom.js";
import { buildTinyVocab, CHATML_TEMPLATE } from "./tinyVocab.js";
import type { GgufMetadata, GgufWritableTensorType } from "./types.js";

export type TinyModelArch = "llama" | "qwen2";
export type TinyModelDtype = "f32" | "f16" | "bf16" | "q8_0";
const MATRIX_TYPES: Record<TinyModelDtype, GgufWritableTensorType> = { f32: "F32", f16: "F16", bf16: "BF16", q8_0: "Q8_0" };
// llama_ftype values: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32.
const FILE_TYPES: Record<TinyModelDtype, number> = { f32: 0, f16: 1, bf16: 32, q8_0: 7 };

export interface TinyModelOptions {
  arch: TinyModelArch;
  seed?: number;
  layers?: number;
  embd?: number;
  heads?: number;
  /** Key/value heads (GQA when fewer than heads); defaults to heads. */
  kvHeads?: number;
  ff?: number;
  ctx?: number;
  dtype?: TinyModelDtype;
  /** Share token_embd as the output matrix (no output.weight). */
  tied?: boolean;
}

export type TinyModelConfig = Required<TinyModelOptions> & { headDim: number; vocabSize: number };

export const TINY_MODEL_DEFAULTS = { seed: 0, layers: 2, embd: 64, heads: 4, ff: 128, ctx: 256, dtype: "f32", tied: false } as const;

/** Keeps test models small enough that a mistyped flag cannot fill the disk. */
const MAX_PARAMETERS = 500_000_000;

const ARCH_DEFAULTS: Record<TinyModelArch, { rmsEps: number; ropeBase: number; pre: string; addBos: boolean }> = {
  llama: { rmsEps: 1e-5, ropeBase: 10_000, pre: "gpt-2", addBos: true },
  qwen2: { rmsEps: 1e-6, ropeBase: 1_000_000, pre: "qwen2", addBos: false },
};

export function resolveTinyModelConfig(options: TinyModelOptions): TinyModelConfig {
  const config = { ...TINY_MODEL_DEFAULTS, ...dropUndefined(options), arch: options.arch };
  const kvHeads = options.kvHeads ?? config.heads;
  if (config.arch !== "llama" && config.arch !== "qwen2") throw new Error(`arch must be llama or qwen2, got ${String(config.arch)}`);
  if (!(config.dtype in MATRIX_TYPES)) throw new Error(`dtype must be f32, f16, bf16 or q8_0, got ${String(config.dtype)}`);
  if (config.dtype === "q8_0" && (config.embd % 32 !== 0 || config.ff % 32 !== 0)) throw new Error(`dtype q8_0 needs embd and ff to be multiples of 32, got ${config.embd} and ${config.ff}`);
  for (const [name, value] of Object.entries({ layers: config.layers, embd: config.embd, heads: config.heads, kvHeads, ff: config.ff, ctx: config.ctx })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, got ${value}`);
  }
  if (!Number.isSafeInteger(config.seed) || config.seed < 0) throw new Error(`seed must be a non-negative whole number, got ${config.seed}`);
  if (config.embd % config.heads !== 0) throw new Error(`embd (${config.embd}) must be divisible by heads (${config.heads})`);
  if (config.heads % kvHeads !== 0) throw new Error(`heads (${config.heads}) must be a multiple of kvHeads (${kvHeads})`);
  const headDim = config.embd / config.heads;
  if (headDim % 2 !== 0) throw new Error(`head size embd/heads = ${headDim} must be even (RoPE rotates pairs)`);
  const vocabSize = buildTinyVocab().tokens.length;
  const perLayer = 2 * config.embd * config.embd + 2 * config.embd * kvHeads * headDim + 3 * config.embd * config.ff;
  const parameters = config.layers * perLayer + (config.tied ? 1 : 2) * vocabSize * config.embd;
  if (parameters > MAX_PARAMETERS) throw new Error(`that model would have ${parameters} parameters; the limit for test models is ${MAX_PARAMETERS}`);
  return { ...config, kvHeads, headDim, vocabSize };
}

/** The whole model in memory: metadata and tensors with their float32 values (before any F16 rounding). */
export function buildTinyModel(options: TinyModelOptions): GgufFileToWrite & { config: TinyModelConfig } {
  const config = resolveTinyModelConfig(options);
  const { embd, heads, kvHeads, headDim, ff, vocabSize, seed } = config;
  const matrixType = MATRIX_TYPES[config.dtype];
  const tensors: GgufTensorToWrite[] = [];
  const add = (name: string, dims: number[], values: (random: SeededRandom, count: number) => Float32Array, type: GgufWritableTensorType) => {
    const count = dims.reduce((a, b) => a * b, 1);
    tensors.push({ name, dims, type, data: values(new SeededRandom(seed, name), count) });
  };
  const normal = (std: number) => (r: SeededRandom, n: number) => r.normalArray(n, std);
  const normWeight = (r: SeededRandom, n: number) => r.normalArray(n, 0.1, 1);
  const matrix = (name: string, nIn: number, nOut: number, std = 1 / Math.sqrt(nIn)) => add(name, [nIn, nOut], normal(std), matrixType);

  matrix("token_embd.weight", embd, vocabSize, 0.3);
  add("output_norm.weight", [embd], normWeight, "F32");
  if (!config.tied) matrix("output.weight", embd, vocabSize, 0.3);
  for (let layer = 0; layer < config.layers; layer++) {
    const blk = `blk.${layer}`;
    add(`${blk}.attn_norm.weight`, [embd], normWeight, "F32");
    matrix(`${blk}.attn_q.weight`, embd, heads * headDim);
    matrix(`${blk}.attn_k.weight`, embd, kvHeads * headDim);
    matrix(`${blk}.attn_v.weight`, embd, kvHeads * headDim);
    if (config.arch === "qwen2") {
      add(`${blk}.attn_q.bias`, [heads * headDim], normal(0.1), "F32");
      add(`${blk}.attn_k.bias`, [kvHeads * headDim], normal(0.1), "F32");
      add(`${blk}.attn_v.bias`, [kvHeads * headDim], normal(0.1), "F32");
    }
    matrix(`${blk}.attn_output.weight`, heads * headDim, embd);
    add(`${blk}.ffn_norm.weight`, [embd], normWeight, "F32");
    matrix(`${blk}.ffn_gate.weight`, embd, ff);
    matrix(`${blk}.ffn_up.weight`, embd, ff);
    matrix(`${blk}.ffn_down.weight`, ff, embd);
  }
  return { metadata: tinyModelMetadata(config), tensors, config };
}

function tinyModelMetadata(config: TinyModelConfig): GgufMetadata {
  const arch = config.arch;
  const defaults = ARCH_DEFAULTS[arch];
  const vocab = buildTinyVocab();
  return new Map([
    ["general.architecture", gguf.string(arch)],
    ["general.name", gguf.string(`spogw tiny ${arch} seed ${config.seed}`)],
    ["general.file_type", gguf.uint32(FILE_TYPES[config.dtype])],
    [`${arch}.context_length`, gguf.uint32(config.ctx)],
    [`${arch}.embedding_length`, gguf.uint32(config.embd)],
    [`${arch}.block_count`, gguf.uint32(config.layers)],
    [`${arch}.feed_forward_length`, gguf.uint32(config.ff)],
    [`${arch}.attention.head_count`, gguf.uint32(config.heads)],
    [`${arch}.attention.head_count_kv`, gguf.uint32(config.kvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.float32(defaults.rmsEps)],
    [`${arch}.rope.freq_base`, gguf.float32(defaults.ropeBase)],
    [`${arch}.rope.dimension_count`, gguf.uint32(config.headDim)],
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string(defaults.pre)],
    ["tokenizer.ggml.tokens", gguf.strings(vocab.tokens)],
    ["tokenizer.ggml.token_type", gguf.numbers("int32", vocab.tokenTypes)],
    ["tokenizer.ggml.merges", gguf.strings(vocab.merges)],
    ["tokenizer.ggml.bos_token_id", gguf.uint32(vocab.endOfTextId)],
    ["tokenizer.ggml.eos_token_id", gguf.uint32(vocab.imEndId)],
    ["tokenizer.ggml.padding_token_id", gguf.uint32(vocab.endOfTextId)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(defaults.addBos)],
    ["tokenizer.chat_template", gguf.string(CHATML_TEMPLATE)],
  ]);
}

/** Writes a tiny model to `path` and returns its resolved configuration. */
export async function writeTinyModel(path: string, options: TinyModelOptions): Promise<TinyModelConfig> {
  const model = buildTinyModel(options);
  await writeGgufFile(path, model);
  return model.config;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
