// PEFT adapter layout (adapter_model.safetensors + adapter_config.json) for Hugging Face, vLLM and
// PEFT users, and back to GGUF (for a server that runs llama.cpp). GGUF projection names map to HF
// module names; for the llama architecture the GGUF converter permutes the rows of q/k weights
// (interleaved rotary pairs), so LoRA B rows of attn_q and attn_k are permuted back to HF's half-split
// order here (and forward again on the way back). qwen2 GGUFs keep HF's order.
import { metadataNumber, metadataString } from "../gguf/metadata.js";
import type { GgufHeader } from "../gguf/types.js";
import type { LoraAdapter, LoraPair } from "../gguf/loraAdapter.js";
import type { SafetensorsTensor } from "./safetensors.js";

const HF_MODULES: Record<string, string> = {
  attn_q: "self_attn.q_proj",
  attn_k: "self_attn.k_proj",
  attn_v: "self_attn.v_proj",
  attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj",
  ffn_up: "mlp.up_proj",
  ffn_down: "mlp.down_proj",
};

export interface PeftModelShape {
  arch: string;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/**
 * GGUF row order -> HF row order for a llama q/k projection with `heads` heads of size hd: GGUF row
 * h*hd + 2j + s holds HF row h*hd + s*hd/2 + j (s in {0, 1}, j < hd/2).
 */
export function unpermuteRopeRows(b: Float32Array, rank: number, heads: number, hd: number): Float32Array {
  return moveRopeRows(b, rank, heads, hd, "to-hf");
}

/** HF row order -> GGUF row order: the inverse of unpermuteRopeRows. */
export function permuteRopeRows(b: Float32Array, rank: number, heads: number, hd: number): Float32Array {
  return moveRopeRows(b, rank, heads, hd, "to-gguf");
}

function moveRopeRows(b: Float32Array, rank: number, heads: number, hd: number, direction: "to-hf" | "to-gguf"): Float32Array {
  const out = new Float32Array(b.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < hd / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const gguf = h * hd + 2 * j + s;
        const hf = h * hd + s * (hd / 2) + j;
        const [from, to] = direction === "to-hf" ? [gguf, hf] : [hf, gguf];
        out.set(b.subarray(from * rank, (from + 1) * rank), to * rank);
      }
    }
  }
  return out;
}

/** The model shape PEFT conversion needs, from a GGUF model's metadata. */
export function peftShapeOf(header: Pick<GgufHeader, "metadata">): PeftModelShape {
  const arch = metadataString(header.metadata, "general.architecture") ?? "";
  const heads = metadataNumber(header.metadata, `${arch}.attention.head_count`) ?? 0;
  const kvHeads = metadataNumber(header.metadata, `${arch}.attention.head_count_kv`) ?? heads;
  const embd = metadataNumber(header.metadata, `${arch}.embedding_length`) ?? 0;
  if (!(heads > 0) || !(embd > 0)) throw new Error(`the model has no ${arch}.attention.head_count or ${arch}.embedding_length`);
  return { arch, heads, kvHeads, headDim: embd / heads };
}

export function peftTensors(adapter: LoraAdapter, shape: PeftModelShape): Map<string, { shape: number[]; data: Float32Array }> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const pair of adapter.pairs) {
    const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(pair.target);
    const module = m ? HF_MODULES[m[2]!] : undefined;
    if (!m || !module) throw new Error(`LoRA target ${pair.target} has no Hugging Face module name`);
    const prefix = `base_model.model.model.layers.${m[1]}.${module}`;
    let b = pair.b;
    if (shape.arch === "llama" && (m[2] === "attn_q" || m[2] === "attn_k")) {
      b = unpermuteRopeRows(b, adapter.rank, m[2] === "attn_q" ? shape.heads : shape.kvHeads, shape.headDim);
    }
    tensors.set(`${prefix}.lora_A.weight`, { shape: [adapter.rank, pair.nIn], data: pair.a });
    tensors.set(`${prefix}.lora_B.weight`, { shape: [pair.nOut, adapter.rank], data: b });
  }
  return tensors;
}

export function peftConfig(adapter: LoraAdapter, baseModel: string): Record<string, unknown> {
  const modules = new Set<string>();
  for (const pair of adapter.pairs) {
    const proj = /^blk\.\d+\.(\w+)\.weight$/.exec(pair.target)?.[1];
    const hf = proj ? HF_MODULES[proj] : undefined;
    if (hf) modules.add(hf.split(".")[1]!);
  }
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    target_modules: [...modules].sort(),
  };
}

const GGUF_PROJECTIONS = new Map(Object.entries(HF_MODULES).map(([gguf, hf]) => [hf, gguf]));

/**
 * A PEFT LoRA adapter (the tensors of adapter_model.safetensors and adapter_config.json) as the GGUF
 * adapter of a `shape` model: the inverse of peftTensors. Only plain LoRA on the seven projections
 * converts; anything PEFT would compute differently (rsLoRA, DoRA, per-module ranks, biases, extra
 * saved modules) is refused with the setting that stands in the way. `source` names it in errors.
 */
export function loraAdapterFromPeft(tensors: Map<string, SafetensorsTensor>, config: Record<string, unknown>, shape: PeftModelShape, source: string): LoraAdapter {
  const fail = (why: string): never => cannotConvert(source, why);
  const { rank, alpha } = peftLoraSettings(config, source);
  const halves = new Map<string, { a?: SafetensorsTensor; b?: SafetensorsTensor }>();
  for (const [name, tensor] of tensors) {
    const m = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$/.exec(name);
    const projection = m ? GGUF_PROJECTIONS.get(`${m[2]}.${m[3]}`) : undefined;
    if (!m || !projection) fail(`tensor ${name} is not the lora_A/lora_B weight of a q/k/v/o/gate/up/down projection`);
    const target = `blk.${Number(m![1])}.${projection}.weight`;
    const entry = halves.get(target) ?? {};
    entry[m![4] === "A" ? "a" : "b"] = tensor;
    halves.set(target, entry);
  }
  if (halves.size === 0) fail("adapter_model.safetensors holds no LoRA tensors");
  const pairs: LoraPair[] = [];
  for (const [target, { a, b }] of halves) {
    if (!a || !b) fail(`${target} has lora_${a ? "A" : "B"} without lora_${a ? "B" : "A"}`);
    const [aRank, nIn] = a!.shape;
    const [nOut, bRank] = b!.shape;
    if (a!.shape.length !== 2 || b!.shape.length !== 2 || aRank !== rank || bRank !== rank || !nIn || !nOut) {
      fail(`${target}: lora_A [${a!.shape}] and lora_B [${b!.shape}] are not [r, in] and [out, r] with r = ${rank}`);
    }
    const projection = /^blk\.\d+\.(\w+)\.weight$/.exec(target)![1];
    let bData = b!.data;
    if (shape.arch === "llama" && (projection === "attn_q" || projection === "attn_k")) {
      const heads = projection === "attn_q" ? shape.heads : shape.kvHeads;
      if (nOut !== heads * shape.headDim) fail(`${target}: lora_B has ${nOut} rows, the model's ${projection} has ${heads * shape.headDim}`);
      bData = permuteRopeRows(bData, rank, heads, shape.headDim);
    }
    pairs.push({ target, nIn: nIn!, nOut: nOut!, a: a!.data, b: bData });
  }
  return { arch: shape.arch, rank, alpha, pairs };
}

function cannotConvert(source: string, why: string): never {
  throw new Error(`${source}: cannot convert this PEFT adapter: ${why}`);
}

/**
 * The rank and alpha of a PEFT adapter_config.json that converts (see loraAdapterFromPeft); anything
 * else is refused with the setting that stands in the way.
 */
export function peftLoraSettings(config: Record<string, unknown>, source: string): { rank: number; alpha: number } {
  const fail = (why: string): never => cannotConvert(source, why);
  if (config.peft_type !== undefined && config.peft_type !== "LORA") fail(`peft_type is ${JSON.stringify(config.peft_type)}, not "LORA"`);
  const rank = config.r;
  const alpha = config.lora_alpha ?? rank;
  if (typeof rank !== "number" || !Number.isSafeInteger(rank) || rank < 1) fail(`adapter_config.json r must be a positive whole number, got ${JSON.stringify(rank)}`);
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) fail(`adapter_config.json lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  for (const [key, plain] of [["use_rslora", false], ["use_dora", false], ["fan_in_fan_out", false]] as const) {
    if (config[key] !== undefined && config[key] !== plain) fail(`${key} is ${JSON.stringify(config[key])} (only plain LoRA converts)`);
  }
  if (config.bias !== undefined && config.bias !== "none") fail(`bias is ${JSON.stringify(config.bias)} (only "none" converts)`);
  for (const key of ["rank_pattern", "alpha_pattern", "modules_to_save"]) {
    const value = config[key];
    if (value !== undefined && value !== null && !(typeof value === "object" && Object.keys(value).length === 0)) fail(`${key} is set (only one rank and alpha for every module converts)`);
  }
  return { rank: rank as number, alpha: alpha as number };
}
