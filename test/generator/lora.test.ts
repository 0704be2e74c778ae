import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Generator } from "../../src/generator/index.js";
import {
  buildTinyModel,
  makeRandomLoraAdapter,
  parseGguf,
  encodeGguf,
  writeGgufFile,
  writeLoraAdapter,
  type LoraAdapter,
  type TinyModelOptions,
} from "../../src/gguf/index.js";

let dir: string;
const modelOptions: TinyModelOptions = { arch: "qwen2", kvHeads: 2, seed: 5 };
const model = buildTinyModel(modelOptions);
const header = parseGguf(encodeGguf(model));
let generator: Generator;
let tokens: number[];
let base: Float64Array[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-lora-"));
  await writeGgufFile(join(dir, "model.gguf"), model);
  generator = await Generator.load({ modelPath: join(dir, "model.gguf"), threads: 1, sequences: 1, contextSize: 64, exactKvCache: true });
  tokens = generator.tokenize("<|im_start|>user\nthe cat is on the mat");
  base = await generator.nextTokenDistributions(tokens);
});
afterAll(async () => {
  await generator?.dispose();
  await rm(dir, { recursive: true, force: true });
});

function maxDifference(a: Float64Array[], b: Float64Array[]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((p, j) => (max = Math.max(max, Math.abs(p - b[i]![j]!)))));
  return max;
}

async function distributionsWith(path: string, scale = 1): Promise<Float64Array[]> {
  await generator.setAdapter({ path, scale });
  return generator.nextTokenDistributions(tokens);
}

/** The model with W + scale * (alpha / rank) * B A folded into each adapted weight (float64 sums). */
function mergedModel(adapter: LoraAdapter, scale: number) {
  const merged = buildTinyModel(modelOptions);
  const factor = (scale * adapter.alpha) / adapter.rank;
  for (const pair of adapter.pairs) {
    const weight = merged.tensors.find((t) => t.name === pair.target)!.data; // row-major [nOut][nIn]
    for (let o = 0; o < pair.nOut; o++) {
      for (let i = 0; i < pair.nIn; i++) {
        let delta = 0;
        for (let k = 0; k < adapter.rank; k++) delta += pair.b[o * adapter.rank + k]! * pair.a[k * pair.nIn + i]!;
        weight[o * pair.nIn + i] = weight[o * pair.nIn + i]! + factor * delta;
      }
    }
  }
  return merged;
}

describe("LoRA adapters through node-llama-cpp", () => {
  it("a zero-B adapter leaves the next-token distribution unchanged", async () => {
    const path = join(dir, "zero.gguf");
    await writeLoraAdapter(path, makeRandomLoraAdapter(header, { rank: 4, alpha: 8, zeroB: true, seed: 1 }));
    expect(maxDifference(await distributionsWith(path), base)).toBe(0);
  });

  it("a random adapter changes it, exactly as merging W + (alpha/r) B A into the weights does", async () => {
    const adapter = makeRandomLoraAdapter(header, { rank: 4, alpha: 8, seed: 2, std: 0.3 });
    const path = join(dir, "random.gguf");
    await writeLoraAdapter(path, adapter);
    const withAdapter = await distributionsWith(path, 0.5);
    expect(maxDifference(withAdapter, base)).toBeGreaterThan(0.05);

    const mergedPath = join(dir, "merged.gguf");
    await writeGgufFile(mergedPath, mergedModel(adapter, 0.5));
    const merged = await Generator.load({ modelPath: mergedPath, threads: 1, sequences: 1, contextSize: 64, exactKvCache: true });
    try {
      expect(maxDifference(await merged.nextTokenDistributions(tokens), withAdapter)).toBeLessThan(1e-5);
    } finally {
      await merged.dispose();
    }
  });

  it("honours a new adapter written to the path of one used before", async () => {
    const path = join(dir, "iteration.gguf");
    await writeLoraAdapter(path, makeRandomLoraAdapter(header, { rank: 4, alpha: 8, seed: 10 }));
    const first = await distributionsWith(path);
    await writeLoraAdapter(path, makeRandomLoraAdapter(header, { rank: 4, alpha: 8, seed: 11 }));
    const second = await distributionsWith(path);
    const freshPath = join(dir, "fresh.gguf");
    await writeLoraAdapter(freshPath, makeRandomLoraAdapter(header, { rank: 4, alpha: 8, seed: 11 }));
    const fresh = await distributionsWith(freshPath);
    expect(maxDifference(first, second)).toBeGreaterThan(0.05);
    expect(maxDifference(second, fresh)).toBe(0);
  });

  it("returns to the base model when the adapter is removed", async () => {
    await generator.setAdapter(undefined);
    expect(generator.adapter).toBeUndefined();
    expect(maxDifference(await generator.nextTokenDistributions(tokens), base)).toBe(0);
  });

  it("loads an adapter given at load time and samples with it", async () => {
    const path = join(dir, "at-load.gguf");
    await writeLoraAdapter(path, makeRandomLoraAdapter(header, { rank: 2, alpha: 2, seed: 3 }), "f16");
    const withAdapter = await Generator.load({ modelPath: join(dir, "model.gguf"), adapter: { path }, threads: 1, sequences: 2, contextSize: 64 });
    try {
      const a = await withAdapter.sample(tokens, { m: 2, maxTokens: 8, seed: 4 });
      const b = await withAdapter.sample(tokens, { m: 2, maxTokens: 8, seed: 4 });
      expect(a.map((c) => c.tokens)).toEqual(b.map((c) => c.tokens));
      expect(withAdapter.adapter?.path).toBe(path);
    } finally {
      await withAdapter.dispose();
    }
  });
});
