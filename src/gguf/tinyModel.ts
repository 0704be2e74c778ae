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
// With dtype f16, bf16 or a quantized type the 2-D weights have that type; 1-D tensors stay F32 because
// llama.cpp aborts on F16 norms. Quantized dtypes need embd and ff to be multiples of 32. As in
// llama-quant.cpp, a K-quant matrix whose rows are not whole 256-value super-blocks falls back to a
// 32-value type (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; llama.cpp's IQ4_NL for Q2_K/Q3_K is not
// written here, so q2_k and q3_k need multiples of 256). q4_k_m mixes types as llama.cpp's Q4_K_M does:
// Q6_K for the output matrix (token_embd when tied) and for attn_v and ffn_down in the layers its
// use_more_bits picks, Q4_K elsewhere.
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
/** The 2-D weight types (llama.cpp's file types for the quantized ones: q4_k_m is mixed). */
export const TINY_MODEL_DTYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m"] as const;
export type TinyModelDtype = (typeof TINY_MODEL_DTYPES)[number];
// The main matrix type and llama_ftype (llama.h) of each dtype; q4_k_m's exceptions are in matrixType().
const DTYPES: Record<TinyModelDtype, { matrix: GgufWritableTensorType; fileType: number }> = {
  f32: { matrix: "F32", fileType: 0 },
  f16: { matrix: "F16", fileType: 1 },
  bf16: { matrix: "BF16", fileType: 32 },
  q8_0: { matrix: "Q8_0", fileType: 7 },
  q4_0: { matrix: "Q4_0", fileType: 2 },
  q4_1: { matrix: "Q4_1", fileType: 3 },
  q5_0: { matrix: "Q5_0", fileType: 8 },
  q5_1: { matrix: "Q5_1", fileType: 9 },
  q2_k: { matrix: "Q2_K", fileType: 10 },
  q3_k: { matrix: "Q3_K", fileType: 12 },
  q4_k: { matrix: "Q4_K", fileType: 14 },
  q5_k: { matrix: "Q5_K", fileType: 16 },
  q6_k: { matrix: "Q6_K", fileType: 18 },
  q4_k_m: { matrix: "Q4_K", fileType: 15 },
};

/** llama-quant.cpp's use_more_bits: the layers Q4_K_M gives Q6_K attn_v and ffn_down. */
function useMoreBits(layer: number, layers: number): boolean {
  return layer < Math.floor(layers / 8) || layer >= Math.floor((7 * layers) / 8) || (layer - Math.floor(layers / 8)) % 3 === 2;
}

/** llama-quant.cpp's replacement for a K-quant whose rows are not whole super-blocks. */
const NOT_SUPER_BLOCK_FALLBACK: Partial<Record<GgufWritableTensorType, GgufWritableTensorType>> = { Q4_K: "Q5_0", Q5_K: "Q5_1", Q6_K: "Q8_0" };

/** The type of a 2-D weight with rows of nIn values ("output" for the output matrix, token_embd when tied). */
function matrixType(dtype: TinyModelDtype, role: "token_embd" | "output" | "attn_v" | "ffn_down" | "other", layer: number, layers: number, nIn: number): GgufWritableTensorType {
  let type = DTYPES[dtype].matrix;
  if (dtype === "q4_k_m" && (role === "output" || ((role === "attn_v" || role === "ffn_down") && useMoreBits(layer, layers)))) type = "Q6_K";
  return nIn % 256 === 0 ? type : NOT_SUPER_BLOCK_FALLBACK[type] ?? type;
}

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
  if (!(config.dtype in DTYPES)) throw new Error(`dtype must be one of ${TINY_MODEL_DTYPES.join(", ")}, got ${String(config.dtype)}`);
  const block = config.dtype === "q2_k" || config.dtype === "q3_k" ? 256 : config.dtype.startsWith("q") ? 32 : 1;
  if (config.embd % block !== 0 || config.ff % block !== 0) {
    throw new Error(`dtype ${config.dtype} needs embd and ff to be multiples of ${block} (its block size), got ${config.embd} and ${config.ff}`);
  }
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
  const tensors: GgufTensorToWrite[] = [];
  const add = (name: string, dims: number[], values: (random: SeededRandom, count: number) => Float32Array, type: GgufWritableTensorType) => {
    const count = dims.reduce((a, b) => a * b, 1);
    tensors.push({ name, dims, type, data: values(new SeededRandom(seed, name), count) });
  };
  const normal = (std: number) => (r: SeededRandom, n: number) => r.normalArray(n, std);
  const normWeight = (r: SeededRandom, n: number) => r.normalArray(n, 0.1, 1);
  const matrix = (name: string, nIn: number, nOut: number, type: GgufWritableTensorType, std = 1 / Math.sqrt(nIn)) => add(name, [nIn, nOut], normal(std), type);
  const typeOf = (role: Parameters<typeof matrixType>[1], nIn: number, layer = 0) => matrixType(config.dtype, role, layer, config.layers, nIn);

  matrix("token_embd.weight", embd, vocabSize, typeOf(config.tied ? "output" : "token_embd", embd), 0.3);
  add("output_norm.weight", [embd], normWeight, "F32");
  if (!config.tied) matrix("output.weight", embd, vocabSize, typeOf("output", embd), 0.3);
  for (let layer = 0; layer < config.layers; layer++) {
    const blk = `blk.${layer}`;
    add(`${blk}.attn_norm.weight`, [embd], normWeight, "F32");
    matrix(`${blk}.attn_q.weight`, embd, heads * headDim, typeOf("other", embd));
    matrix(`${blk}.attn_k.weight`, embd, kvHeads * headDim, typeOf("other", embd));
    matrix(`${blk}.attn_v.weight`, embd, kvHeads * headDim, typeOf("attn_v", embd, layer));
    if (config.arch === "qwen2") {
      add(`${blk}.attn_q.bias`, [heads * headDim], normal(0.1), "F32");
      add(`${blk}.attn_k.bias`, [kvHeads * headDim], normal(0.1), "F32");
      add(`${blk}.attn_v.bias`, [kvHeads * headDim], normal(0.1), "F32");
    }
    matrix(`${blk}.attn_output.weight`, heads * headDim, embd, typeOf("other", heads * headDim));
    add(`${blk}.ffn_norm.weight`, [embd], normWeight, "F32");
    matrix(`${blk}.ffn_gate.weight`, embd, ff, typeOf("other", embd));
    matrix(`${blk}.ffn_up.weight`, embd, ff, typeOf("other", embd));
    matrix(`${blk}.ffn_down.weight`, ff, embd, typeOf("ffn_down", ff, layer));
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
    ["general.file_type", gguf.uint32(DTYPES[config.dtype].fileType)],
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
