import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Generator } from "../../src/generator/index.js";
import { writeTinyModel, type TinyModelArch } from "../../src/gguf/index.js";
import { referenceDistributions } from "./referenceForward.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-tiny-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// llama.cpp's next-token distributions against a plain float64 forward pass, largest gap: F32 weights
// at most 4.9e-7 measured (the bound was 1e-5). F16 weights: ggml rounds activations to F16 for the
// matrix products, 1.3e-3 measured.
const F32_TOLERANCE = 2e-6;
const F16_TOLERANCE = 2e-3;
const TOKENS = [0, 101, 264, 32, 272, 7];

/** Largest gap between two lists of distributions, over every position and token. */
function largestGap(ours: Float64Array[], reference: Float64Array[]): number {
  let worst = 0;
  ours.forEach((distribution, pos) => distribution.forEach((p, i) => (worst = Math.max(worst, Math.abs(p - reference[pos]![i]!)))));
  return worst;
}

const load = (path: string) =>
  // No crash probe: these files come from our own writer, and the probe would double the load time.
  Generator.load({ modelPath: path, threads: 1, sequences: 1, contextSize: 32, exactKvCache: true, crashProbe: false });

const variants: Array<[TinyModelArch, "f32" | "f16", boolean, number]> = [];
for (const arch of ["llama", "qwen2"] as const) {
  for (const dtype of ["f32", "f16"] as const) {
    for (const tied of [false, true]) for (const kvHeads of [4, 2]) variants.push([arch, dtype, tied, kvHeads]);
  }
}

describe("node-llama-cpp runs every tiny-model variant", () => {
  it.each(variants)("%s %s tied=%s kvHeads=%d: loads, generates, and matches a plain forward pass at every position", async (arch, dtype, tied, kvHeads) => {
    const path = join(dir, `${arch}-${dtype}-${tied}-${kvHeads}.gguf`);
    await writeTinyModel(path, { arch, dtype, tied, kvHeads, heads: 4, seed: 11 });
    const generator = await load(path);
    try {
      const [completion] = await generator.sample([65, 66], { m: 1, maxTokens: 4, temperature: 0 });
      expect(completion!.tokens.length).toBeGreaterThan(0);
      // llama.cpp's next-token distributions at every position must equal a plain float64 forward pass.
      const gap = largestGap(await generator.nextTokenDistributions(TOKENS), referenceDistributions(path, TOKENS));
      expect(gap).toBeLessThan(dtype === "f32" ? F32_TOLERANCE : F16_TOLERANCE);
    } finally {
      await generator.dispose();
    }
  });

  it("a planted error that the old F32 bound (1e-5) let through fails this one: the reference with RMSNorm's eps 10% larger", async () => {
    const path = join(dir, "planted.gguf");
    await writeTinyModel(path, { arch: "llama", dtype: "f32", tied: true, kvHeads: 2, heads: 4, seed: 11 });
    const generator = await load(path);
    try {
      // The tiny llama model's eps is 1e-5.
      const gap = largestGap(await generator.nextTokenDistributions(TOKENS), referenceDistributions(path, TOKENS, { rmsEps: 1.1e-5 }));
      expect(gap).toBeGreaterThan(F32_TOLERANCE);
      expect(gap).toBeLessThan(1e-5);
    } finally {
      await generator.dispose();
    }
  });
});
