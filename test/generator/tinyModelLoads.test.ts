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
    // No crash probe: these files come from our own writer, and the probe would double the load time.
    const generator = await Generator.load({ modelPath: path, threads: 1, sequences: 1, contextSize: 32, exactKvCache: true, crashProbe: false });
    try {
      const [completion] = await generator.sample([65, 66], { m: 1, maxTokens: 4, temperature: 0 });
      expect(completion!.tokens.length).toBeGreaterThan(0);
      // llama.cpp's next-token distributions at every position must equal a plain float64 forward pass.
      // F16 weights: ggml rounds activations to F16 for the matrix products, hence the looser bound.
      const tolerance = dtype === "f32" ? 1e-5 : 2e-3;
      const tokens = [0, 101, 264, 32, 272, 7];
      const ours = await generator.nextTokenDistributions(tokens);
      const reference = referenceDistributions(path, tokens);
      ours.forEach((distribution, pos) => {
        const maxDiff = Math.max(...distribution.map((p, i) => Math.abs(p - reference[pos]![i]!)));
        expect(maxDiff, `position ${pos}`).toBeLessThan(tolerance);
      });
    } finally {
      await generator.dispose();
    }
  });
});
