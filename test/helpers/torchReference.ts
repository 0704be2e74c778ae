// Runs the independent PyTorch float64 reference (test/reference/engine_reference.py) on a tiny GGUF
// model, a LoRA adapter and a batch, and returns its logits, loss and LoRA gradients.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GgufFile, type LoraAdapter } from "../../src/gguf/index.js";
import { encodeSafetensors, readSafetensors, type GrpoLossSettings } from "../../src/train/index.js";
import { repoRoot } from "./prebuilds.js";

/** Debian's python3 has python3-torch; a pyenv python earlier on PATH does not. */
export const referencePython = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

export interface ReferenceBatchItem {
  tokens: number[];
  responseStart: number;
  advantage: number;
  weight: number;
  oldLogp: number[];
  refLogp: number[];
}

/** The model's shape and the loss settings (the same GrpoLossSettings the engine takes). */
export interface ReferenceConfig extends GrpoLossSettings {
  arch: string;
  d: number;
  heads: number;
  kvHeads: number;
  layers: number;
  eps: number;
  ropeBase: number;
  /** Override the rotary layout: "neox" (halves, Hugging Face) or "norm" (interleaved pairs, GGUF llama). */
  ropeMode?: "neox" | "norm";
}

/** A GGUF model's tensors as row-major float32 arrays with PyTorch shapes. */
export function readModelTensors(modelPath: string): Map<string, { shape: number[]; data: Float32Array }> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const file = GgufFile.open(modelPath);
  try {
    for (const t of file.header.tensors) tensors.set(t.name, { shape: [...t.dims].reverse(), data: file.tensorFloat32(t) });
  } finally {
    file.close();
  }
  return tensors;
}

export function runTorchReference(
  model: string | Map<string, { shape: number[]; data: Float32Array }>,
  adapter: LoraAdapter,
  config: ReferenceConfig,
  batch: ReferenceBatchItem[],
) {
  const work = mkdtempSync(join(tmpdir(), "spogw-ref-"));
  try {
    const tensors = new Map(typeof model === "string" ? readModelTensors(model) : model);
    for (const p of adapter.pairs) {
      tensors.set(`lora.${p.target}.a`, { shape: [adapter.rank, p.nIn], data: p.a });
      tensors.set(`lora.${p.target}.b`, { shape: [p.nOut, adapter.rank], data: p.b });
    }
    const meta = { config: JSON.stringify({ ...config, rank: adapter.rank, alpha: adapter.alpha, batch }) };
    const input = join(work, "in.safetensors");
    const output = join(work, "out.safetensors");
    writeFileSync(input, encodeSafetensors(tensors, meta));
    execFileSync(referencePython, [join(repoRoot, "test", "reference", "engine_reference.py"), input, output], { stdio: ["ignore", "inherit", "inherit"] });
    return readSafetensors(output).tensors;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** ||got - want|| / ||want||. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}
