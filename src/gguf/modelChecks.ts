// Checks of a parsed GGUF's *content* that llama.cpp does not make itself before it aborts the whole
// process (GGML_ASSERT): run them before any model or adapter reaches llama.cpp. Byte-level problems
// are the reader's job; this module looks at keys, shapes and types that llama.cpp relies on.
import { metadataNumber, metadataString } from "./metadata.js";
import type { GgufHeader } from "./types.js";

export class GgufContentError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly source?: string,
  ) {
    super(`${source ? `${source}: ` : ""}unusable GGUF: ${field}: ${problem}`);
    this.name = "GgufContentError";
  }
}

/**
 * A model file llama.cpp can load without aborting: hyperparameters present and positive (llama.cpp
 * asserts on a missing feed_forward_length or head_count), a string vocabulary matching token_embd,
 * and F32 1-D tensors (llama.cpp aborts on the first evaluation with F16 norms or biases).
 */
export function checkLlamaCppModel(header: GgufHeader, source?: string): void {
  function fail(field: string, problem: string): never {
    throw new GgufContentError(field, problem, source);
  }
  const { metadata } = header;
  if (metadataString(metadata, "general.type") === "adapter") fail("general.type", "this is an adapter, not a model");
  const arch = metadataString(metadata, "general.architecture");
  if (!arch) fail("general.architecture", "missing or not a string");
  for (const suffix of ["context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count"]) {
    const key = `${arch}.${suffix}`;
    const value = metadata.get(key);
    const values = value?.type === "array" ? value.items : value === undefined ? [] : [value.value];
    // Some architectures give feed_forward_length / head_count per layer as an array.
    if (values.length === 0 || !values.every((v) => (typeof v === "number" || typeof v === "bigint") && Number(v) >= 1)) {
      fail(key, "missing, or not a positive number");
    }
  }
  checkAttentionShape(header, arch, fail);
  const tokens = metadata.get("tokenizer.ggml.tokens");
  if (tokens?.type !== "array" || tokens.itemType !== "string" || tokens.items.length === 0) {
    fail("tokenizer.ggml.tokens", "missing, empty or not an array of strings");
  }
  const embeddings = header.tensors.find((t) => t.name === "token_embd.weight");
  if (!embeddings) fail("token_embd.weight", "tensor missing");
  if (embeddings.dims[1] !== tokens.items.length) {
    fail("token_embd.weight", `has ${embeddings.dims[1]} rows but the vocabulary has ${tokens.items.length} tokens`);
  }
  const embd = metadataNumber(metadata, `${arch}.embedding_length`);
  if (embeddings.dims[0] !== embd) fail("token_embd.weight", `width ${embeddings.dims[0]} differs from ${arch}.embedding_length ${embd}`);
  checkOneDimensionalTensorsAreF32(header, fail);
}

// llama.cpp src/llama-hparams.h
const LLAMA_MAX_LAYERS = 512;
const LLAMA_MAX_EXPERTS = 1024;

/** Architectures whose graph asserts key head size == value head size == rope dimensions (llama.cpp src/models). */
const SAME_HEAD_SIZE_ARCHS = new Set(["llama", "qwen2"]);

/**
 * Attention hyperparameters that llama.cpp asserts on (measured: head_count_kv 0, a rope dimension,
 * key_length or value_length that differ, an expert count without expert tensors).
 */
function checkAttentionShape(header: GgufHeader, arch: string, fail: (field: string, problem: string) => never): void {
  const { metadata } = header;
  const heads = metadataNumber(metadata, `${arch}.attention.head_count`);
  const kvValue = metadata.get(`${arch}.attention.head_count_kv`);
  const kvHeads = kvValue?.type === "array" ? kvValue.items.map(Number) : kvValue === undefined ? [] : [Number(kvValue.value)];
  for (const kv of kvHeads) {
    if (!(kv >= 1) || (heads !== undefined && heads % kv !== 0)) fail(`${arch}.attention.head_count_kv`, `${kv} must be at least 1 and divide head_count ${heads}`);
  }
  const layers = metadataNumber(metadata, `${arch}.block_count`)!;
  if (layers > LLAMA_MAX_LAYERS) fail(`${arch}.block_count`, `${layers} is more than llama.cpp's limit of ${LLAMA_MAX_LAYERS}`);
  const experts = metadataNumber(metadata, `${arch}.expert_count`) ?? 0;
  const expertsUsed = metadataNumber(metadata, `${arch}.expert_used_count`) ?? 0;
  if (experts > LLAMA_MAX_EXPERTS) fail(`${arch}.expert_count`, `${experts} is more than llama.cpp's limit of ${LLAMA_MAX_EXPERTS}`);
  if (expertsUsed > experts || (experts > 0 && expertsUsed < 1)) fail(`${arch}.expert_used_count`, `${expertsUsed} must be from 1 to expert_count (${experts})`);
  if (experts > 0 && !header.tensors.some((t) => t.name.endsWith(".ffn_gate_inp.weight"))) {
    fail(`${arch}.expert_count`, `is ${experts} but the file has no expert router tensors (blk.N.ffn_gate_inp.weight)`);
  }
  if (!SAME_HEAD_SIZE_ARCHS.has(arch) || heads === undefined) return;
  // Defaults as in llama.cpp: head sizes embedding_length / head_count, rope dimensions = key head size.
  const defaultHead = Math.floor(metadataNumber(metadata, `${arch}.embedding_length`)! / heads);
  const keyHead = metadataNumber(metadata, `${arch}.attention.key_length`) ?? defaultHead;
  const valueHead = metadataNumber(metadata, `${arch}.attention.value_length`) ?? defaultHead;
  const ropeDims = metadataNumber(metadata, `${arch}.rope.dimension_count`) ?? keyHead;
  if (!(keyHead >= 1)) fail(`${arch}.attention.key_length`, `key head size ${keyHead} must be at least 1`);
  if (valueHead !== keyHead) fail(`${arch}.attention.value_length`, `value head size ${valueHead} must equal the key head size ${keyHead} for ${arch}`);
  if (ropeDims !== keyHead) fail(`${arch}.rope.dimension_count`, `${ropeDims} must equal the key head size ${keyHead} for ${arch}`);
}

/** A LoRA adapter for `modelArch`: the keys llama.cpp requires and complete A/B pairs. */
export function checkLlamaCppLoraAdapter(header: GgufHeader, modelArch: string, source?: string): void {
  function fail(field: string, problem: string): never {
    throw new GgufContentError(field, problem, source);
  }
  const { metadata, tensors } = header;
  if (metadataString(metadata, "general.type") !== "adapter") fail("general.type", "must be \"adapter\"");
  if (metadataString(metadata, "adapter.type") !== "lora") fail("adapter.type", "must be \"lora\"");
  const arch = metadataString(metadata, "general.architecture");
  if (arch !== modelArch) fail("general.architecture", `adapter is for ${JSON.stringify(arch)} but the model is ${JSON.stringify(modelArch)}`);
  const names = new Set(tensors.map((t) => t.name));
  for (const tensor of tensors) {
    const pair = tensor.name.endsWith(".lora_a") ? tensor.name.replace(/\.lora_a$/, ".lora_b")
      : tensor.name.endsWith(".lora_b") ? tensor.name.replace(/\.lora_b$/, ".lora_a") : undefined;
    if (pair !== undefined && !names.has(pair)) fail(tensor.name, `its partner ${pair} is missing`);
  }
  checkOneDimensionalTensorsAreF32(header, fail);
}

function checkOneDimensionalTensorsAreF32(header: GgufHeader, fail: (field: string, problem: string) => never): void {
  for (const tensor of header.tensors) {
    if (tensor.dims.length === 1 && tensor.type.name !== "F32") {
      fail(tensor.name, `1-D tensors (norms, biases) must be F32, found ${tensor.type.name} (llama.cpp aborts on them)`);
    }
  }
}
