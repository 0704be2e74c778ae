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
