// LoRA adapters as GGUF files that llama.cpp (and so node-llama-cpp) loads, and back.
//
// Convention (llama.cpp src/llama-adapter.cpp): for a base weight W with ggml dims [nIn, nOut]
// (row-major [nOut][nIn]), the adapter holds
//   <W name>.lora_a   dims [nIn, rank]   row-major [rank][nIn]   = PEFT lora_A.weight
//   <W name>.lora_b   dims [rank, nOut]  row-major [nOut][rank]  = PEFT lora_B.weight
// and llama.cpp computes y = W x + scale * (alpha / rank) * B (A x). Metadata: general.architecture
// equal to the model's, general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (float32).
// token_embd is stored transposed by llama.cpp and is not supported here.
import { gguf, metadataNumber, metadataString } from "./metadata.js";
import type { GgufFile } from "./ggufFile.js";
import { SeededRandom } from "../util/seededRandom.js";
import type { GgufHeader } from "./types.js";
import { writeGgufFile, type GgufFileToWrite, type GgufTensorToWrite } from "./writer.js";

export interface LoraPair {
  /** Base weight name, e.g. "blk.0.attn_q.weight". */
  target: string;
  nIn: number;
  nOut: number;
  /** Row-major [rank][nIn]. */
  a: Float32Array;
  /** Row-major [nOut][rank]. */
  b: Float32Array;
}

export interface LoraAdapter {
  arch: string;
  rank: number;
  alpha: number;
  pairs: LoraPair[];
}

/** The projections PEFT usually targets in llama/qwen2 models. */
export const DEFAULT_LORA_TARGETS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

export function buildLoraAdapterGguf(adapter: LoraAdapter, dtype: "f32" | "f16" = "f32", name = "spogw lora"): GgufFileToWrite {
  const { rank } = adapter;
  if (!Number.isSafeInteger(rank) || rank < 1) throw new Error(`LoRA rank must be a positive whole number, got ${rank}`);
  if (!Number.isFinite(adapter.alpha)) throw new Error(`LoRA alpha must be a finite number, got ${adapter.alpha}`);
  const type = dtype === "f16" ? "F16" : "F32";
  const tensors: GgufTensorToWrite[] = [];
  for (const pair of adapter.pairs) {
    if (pair.target.startsWith("token_embd")) throw new Error("LoRA on token_embd is not supported (llama.cpp stores it transposed)");
    if (pair.a.length !== rank * pair.nIn) throw new Error(`LoRA '${pair.target}': A has ${pair.a.length} values, expected rank*nIn = ${rank * pair.nIn}`);
    if (pair.b.length !== pair.nOut * rank) throw new Error(`LoRA '${pair.target}': B has ${pair.b.length} values, expected nOut*rank = ${pair.nOut * rank}`);
    tensors.push({ name: `${pair.target}.lora_a`, dims: [pair.nIn, rank], type, data: pair.a });
    tensors.push({ name: `${pair.target}.lora_b`, dims: [rank, pair.nOut], type, data: pair.b });
  }
  const metadata = new Map([
    ["general.architecture", gguf.string(adapter.arch)],
    ["general.type", gguf.string("adapter")],
    ["general.name", gguf.string(name)],
    ["adapter.type", gguf.string("lora")],
    ["adapter.lora.alpha", gguf.float32(adapter.alpha)],
  ]);
  return { metadata, tensors };
}

export async function writeLoraAdapter(path: string, adapter: LoraAdapter, dtype: "f32" | "f16" = "f32"): Promise<void> {
  await writeGgufFile(path, buildLoraAdapterGguf(adapter, dtype));
}

/** Reads an adapter written by writeLoraAdapter (or any llama.cpp LoRA GGUF without token_embd). */
export function loraAdapterFromGguf(file: GgufFile): LoraAdapter {
  const { metadata, tensors } = file.header;
  if (metadataString(metadata, "general.type") !== "adapter" || metadataString(metadata, "adapter.type") !== "lora") {
    throw new Error("not a LoRA adapter: general.type must be 'adapter' and adapter.type 'lora'");
  }
  const arch = metadataString(metadata, "general.architecture");
  if (!arch) throw new Error("LoRA adapter has no general.architecture");
  const pairs: LoraPair[] = [];
  let rank = 0;
  for (const a of tensors.filter((t) => t.name.endsWith(".lora_a"))) {
    const target = a.name.slice(0, -".lora_a".length);
    const b = tensors.find((t) => t.name === `${target}.lora_b`);
    if (!b) throw new Error(`LoRA tensor pair for '${target}' has no lora_b`);
    const [nIn, aRank] = a.dims;
    const [bRank, nOut] = b.dims;
    if (a.dims.length !== 2 || b.dims.length !== 2 || aRank !== bRank || nIn === undefined || nOut === undefined || aRank === undefined) {
      throw new Error(`LoRA '${target}': lora_a dims [${a.dims}] and lora_b dims [${b.dims}] do not form a pair`);
    }
    if (rank !== 0 && aRank !== rank) throw new Error(`LoRA '${target}': rank ${aRank} differs from the other pairs' ${rank}`);
    rank = aRank;
    pairs.push({ target, nIn, nOut, a: file.tensorFloat32(a), b: file.tensorFloat32(b) });
  }
  return { arch, rank, alpha: metadataNumber(metadata, "adapter.lora.alpha") ?? rank, pairs };
}

export interface RandomLoraOptions {
  rank: number;
  alpha: number;
  seed?: number;
  /** Projection names to adapt in every layer (default DEFAULT_LORA_TARGETS). */
  targets?: string[];
  /** Standard deviation of A and B entries. */
  std?: number;
  /** B = 0: the adapter then leaves the model's outputs unchanged (PEFT's initial state). */
  zeroB?: boolean;
}

/** A random adapter shaped for the model whose header is given (for tests and benchmarks). */
export function makeRandomLoraAdapter(model: GgufHeader, options: RandomLoraOptions): LoraAdapter {
  const arch = metadataString(model.metadata, "general.architecture");
  if (!arch) throw new Error("model has no general.architecture");
  const targets = options.targets ?? DEFAULT_LORA_TARGETS;
  const std = options.std ?? 0.5;
  const pairs: LoraPair[] = [];
  for (const tensor of model.tensors) {
    const match = /^blk\.\d+\.(\w+)\.weight$/.exec(tensor.name);
    if (!match || !targets.includes(match[1]!) || tensor.dims.length !== 2) continue;
    const [nIn, nOut] = tensor.dims as [number, number];
    const random = new SeededRandom(options.seed ?? 0, tensor.name);
    const a = random.normalArray(options.rank * nIn, std);
    const b = options.zeroB ? new Float32Array(nOut * options.rank) : random.normalArray(nOut * options.rank, std);
    pairs.push({ target: tensor.name, nIn, nOut, a, b });
  }
  if (pairs.length === 0) throw new Error(`the model has no 2-D weights named like blk.N.{${targets.join(",")}}.weight`);
  return { arch, rank: options.rank, alpha: options.alpha, pairs };
}
