// Malformed or mismatched inputs to the engine give clear errors; the process never aborts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GgufFile, writeLoraAdapter, writeTinyModel } from "../../src/gguf/index.js";
import { Engine, type OptimizerSettings } from "../../src/train/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-engine-err-"));
let llamaPath: string;
let qwenPath: string;
let engine: Engine;

beforeAll(async () => {
  llamaPath = join(work, "llama.gguf");
  qwenPath = join(work, "qwen.gguf");
  await writeTinyModel(llamaPath, { arch: "llama", seed: 1, kvHeads: 2 });
  await writeTinyModel(qwenPath, { arch: "qwen2", seed: 1, embd: 32, heads: 2, kvHeads: 2 });
  engine = await Engine.load(llamaPath);
});
afterAll(() => {
  engine?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe("engine errors", () => {
  it("rejects files that are not usable models, naming the problem", async () => {
    const bytes = readFileSync(llamaPath);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ["empty", new Uint8Array(0), /truncated file reading magic/],
      ["bad-magic", Buffer.concat([Buffer.from("GGUX"), bytes.subarray(4)]), /does not start with the GGUF magic/],
      ["truncated-header", bytes.subarray(0, 100), /truncated|exceeds what the file can hold/],
      ["truncated-data", bytes.subarray(0, bytes.length - 1000), /outside the file/],
    ];
    const huge = Buffer.from(bytes);
    huge.writeBigUInt64LE(2n ** 62n, 8); // tensor count
    cases.push(["huge-count", huge, /tensor count .* exceeds/]);
    // Weights are checked for NaN and infinities once, at load (the kernels trust them afterwards).
    const file = GgufFile.open(llamaPath);
    const up = file.tensor("blk.1.ffn_up.weight");
    file.close();
    const nan = Buffer.from(bytes);
    nan.writeFloatLE(Number.NaN, up.absoluteOffset + 4 * 3);
    cases.push(["nan-weight", nan, /tensor blk\.1\.ffn_up\.weight holds a non-finite value \(nan at index 3\)/]);
    for (const [name, data, pattern] of cases) {
      const p = join(work, `${name}.gguf`);
      writeFileSync(p, data);
      await expect(Engine.load(p), name).rejects.toThrow(pattern);
    }
    await expect(Engine.load(join(work, "missing.gguf"))).rejects.toThrow(/cannot open .*missing\.gguf/);
  });

  it("rejects adapters for another model or architecture, and a model file given as an adapter", async () => {
    const other = await Engine.load(qwenPath);
    try {
      other.initLora({ rank: 2, alpha: 4 });
      const qwenAdapter = join(work, "qwen.lora.gguf");
      await other.saveLora(qwenAdapter);
      await expect(engine.loadLora(qwenAdapter)).rejects.toThrow(/architecture "qwen2" but the model is "llama"/);
    } finally {
      other.dispose();
    }
    engine.initLora({ rank: 2, alpha: 4 });
    const adapter = engine.loraAdapter();
    const wrongShape = join(work, "wrong-shape.lora.gguf");
    await writeLoraAdapter(wrongShape, { ...adapter, pairs: adapter.pairs.map((p) => ({ ...p, nOut: p.nOut * 2, b: new Float32Array(p.b.length * 2) })) });
    await expect(engine.loadLora(wrongShape)).rejects.toThrow(/in the adapter but .* in the model \(adapter for another model\?\)/);
    await expect(engine.loadLora(llamaPath)).rejects.toThrow(/not a LoRA adapter/);
    await expect(Engine.load(wrongShape)).rejects.toThrow(/is a LoRA adapter, not a model/);
  });

  it("rejects bad tokens, batches and options before any work", async () => {
    await expect(engine.logits(Int32Array.from([1, 99999]))).rejects.toThrow(/token 99999 at position 1 is outside the vocabulary/);
    await expect(engine.tokenLogprobs(Int32Array.from([1, 2, 3]), 0, 1)).rejects.toThrow(/from must be a whole number in \[1, 2\]/);
    engine.initLora({ rank: 2, alpha: 4 });
    const item = { tokens: Int32Array.from([1, 2, 3, 4]), responseStart: 2, advantage: 1, weight: 1, oldLogp: new Float32Array(2), refLogp: new Float32Array(2) };
    const loss = { epsilon: 0.2, epsilonHigh: 0.2, beta: 0.1, temperature: 1, klMask: "advantage" as const };
    await expect(engine.backward([{ ...item, oldLogp: new Float32Array(3) }], loss)).rejects.toThrow(/2 response tokens but oldLogp has 3/);
    await expect(engine.backward([{ ...item, responseStart: 0, oldLogp: new Float32Array(4), refLogp: new Float32Array(4) }], loss)).rejects.toThrow(/responseStart .* outside \[1, 4\)/);
    await expect(engine.backward([item], { ...loss, temperature: 0 })).rejects.toThrow(/temperature/);
    await expect(engine.backward([], loss)).rejects.toThrow(/empty/);
    // Every setting is required at the N-API line: none is filled in below the run config.
    const { epsilonHigh: _epsilonHigh, ...noEpsilonHigh } = loss;
    await expect(engine.backward([item], noEpsilonHigh as typeof loss)).rejects.toThrow(/backward: epsilonHigh is required/);
    await expect(engine.optimizerStep({ lr: 1e-2 } as OptimizerSettings)).rejects.toThrow(/optimizerStep: weightDecay is required/);
    expect(() => engine.initLora({ rank: 2, alpha: 4, targets: ["attn_qq"] })).toThrow(/unknown LoRA target "attn_qq"/);
    expect(() => engine.initLora({ rank: 0, alpha: 4 })).toThrow(/rank must be a whole number/);
    // Without a usable device (test/train/engineDevice.test.ts covers both binaries).
    await expect(Engine.load(llamaPath, { device: "cuda" })).rejects.toThrow(/CPU variant \(no CUDA code\)|no usable device/);
  });
});
