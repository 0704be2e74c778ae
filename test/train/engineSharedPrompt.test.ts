// Shared-prompt groups (native/include/spogw/engine/group_layout.h): items whose tokens before
// responseStart are identical are computed as one tree. Judged against each item computed on its own
// and against the float64 PyTorch model (test/reference/engine_reference.py):
//   - tokenLogprobsBatch equals tokenLogprobs bit for bit, over prompt lengths 1 .. 70 and response
//     lengths 1 .. 65 (across the forward's 64-wide attention padding), items of several prompts in
//     mixed order, for F16, BF16 and Q8_0 weights with a LoRA adapter;
//   - backward over a batch mixing two prompts (four responses each, lengths 1 .. 9) gives the loss,
//     statistics and LoRA gradients of the same items backpropagated one at a time (1e-5 relative), and
//     of PyTorch (as engineGradients.test.ts), for llama and qwen2, GQA, both KL masks, T != 1.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { info } from "../../src/native/index.js";
import { Engine, LORA_TARGETS, type BackwardItem } from "../../src/train/index.js";
import { relativeError, runTorchReference, type ReferenceBatchItem } from "../helpers/torchReference.js";

const work = mkdtempSync(join(tmpdir(), "spogw-shared-prompt-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Deterministic tokens in [1, 250). */
function tokensFrom(seed: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 + ((seed * 97 + i * 53 + 7) % 249));
}

describe("tokenLogprobsBatch", () => {
  // The bit-for-bit claim is the engine's exact-numerics mode (every AVX-512 or AVX2 CPU); with
  // OpenBLAS products a row's bits may depend on the product's shape.
  it("runs in the exact-numerics mode here", () => {
    expect(info().engineNumerics).toMatch(/bit for bit/);
  });

  for (const dtype of ["f16", "bf16", "q8_0"] as const) {
    it(`equals tokenLogprobs bit for bit (${dtype} weights, LoRA, mixed prompts and lengths)`, async () => {
      const modelPath = join(work, `logprobs-${dtype}.gguf`);
      await writeTinyModel(modelPath, { arch: "qwen2", seed: 3, layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 96, dtype, ctx: 256 });
      const engine = await Engine.load(modelPath);
      try {
        engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 9 });
        const items: { tokens: Int32Array; responseStart: number }[] = [];
        const prompts = [1, 2, 5, 17, 64, 70].map((p, i) => tokensFrom(i, p));
        const responseLengths = [1, 2, 3, 15, 16, 63, 64, 65];
        // Responses of each prompt interleaved with other prompts' (item i uses prompt i % 6).
        for (let i = 0; i < 30; i++) {
          const prompt = prompts[i % prompts.length]!;
          const response = tokensFrom(100 + i, responseLengths[(i * 5) % responseLengths.length]!);
          items.push({ tokens: Int32Array.from([...prompt, ...response]), responseStart: prompt.length });
        }
        items.push({ ...items[3]! });  // an item repeated within its group
        for (const temperature of [1, 0.7]) {
          const batched = await engine.tokenLogprobsBatch(items, temperature);
          expect(batched.length).toBe(items.length);
          for (let i = 0; i < items.length; i++) {
            const alone = await engine.tokenLogprobs(items[i]!.tokens, items[i]!.responseStart, temperature);
            expect(batched[i]!.length).toBe(alone.length);
            expect(Buffer.from(batched[i]!.buffer, batched[i]!.byteOffset, batched[i]!.byteLength).equals(
              Buffer.from(alone.buffer, alone.byteOffset, alone.byteLength)), `item ${i} (T=${items[i]!.tokens.length}, start ${items[i]!.responseStart}, temperature ${temperature})`).toBe(true);
          }
        }
      } finally {
        engine.dispose();
      }
    });
  }

  it("refuses a bad item with an error naming it, before any work", async () => {
    const modelPath = join(work, "errors.gguf");
    await writeTinyModel(modelPath, { arch: "llama", seed: 1, layers: 1, embd: 32, heads: 2, ff: 64 });
    const engine = await Engine.load(modelPath);
    try {
      const good = { tokens: Int32Array.from([1, 2, 3]), responseStart: 1 };
      await expect(engine.tokenLogprobsBatch([good, { tokens: Int32Array.from([1, 2, 3]), responseStart: 3 }], 1)).rejects.toThrow(/responseStart of sequence 1 is 3, outside \[1, 3\)/);
      await expect(engine.tokenLogprobsBatch([good, { tokens: Int32Array.from([1, 99999]), responseStart: 1 }], 1)).rejects.toThrow(/item 1: token 99999 at position 1/);
      await expect(engine.tokenLogprobsBatch([good], 0)).rejects.toThrow(/temperature/);
      expect(await engine.tokenLogprobsBatch([], 1)).toEqual([]);
    } finally {
      engine.dispose();
    }
  });
});

const gradientCases = [
  { arch: "llama" as const, tied: false, klMask: "advantage" as const, temperature: 1, beta: 0.1 },
  { arch: "qwen2" as const, tied: true, klMask: "all" as const, temperature: 0.7, beta: 0.3 },
];

describe("shared-prompt backward", () => {
  for (const c of gradientCases) {
    it(`${c.arch} (${c.tied ? "tied" : "untied"}, GQA, klMask ${c.klMask}, T=${c.temperature}): two prompts x four responses`, async () => {
      const modelPath = join(work, `grad-${c.arch}.gguf`);
      const cfg = await writeTinyModel(modelPath, { arch: c.arch, seed: 11, layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 96, tied: c.tied });
      const lora = { rank: 4, alpha: 8, init: "random" as const, seed: 5 };
      const shared = await Engine.load(modelPath);
      const alone = await Engine.load(modelPath);
      try {
        shared.initLora(lora);
        alone.initLora(lora);
        // Two prompts (7 and 4 tokens), four responses each of different lengths (1 .. 9), the two
        // groups' items interleaved; advantages of both signs and zero; old/ref log-probs shifted from
        // the engine's own so that ratios fall below, inside and above the clip range.
        const prompts = [tokensFrom(1, 7), tokensFrom(2, 4)];
        const lengths = [5, 1, 9, 3, 2, 6, 1, 4];
        const advantages = [1.3, -0.8, 0, 0.6, -1.1, 0.9, 0.4, -0.2];
        const shifts = [-0.5, -0.1, 0.05, 0.4, -0.3, 0.15, 0.6, -0.05];
        const batch: BackwardItem[] = [];
        const refBatch: ReferenceBatchItem[] = [];
        for (let i = 0; i < 8; i++) {
          const prompt = prompts[i % 2]!;
          const tokens = [...prompt, ...tokensFrom(20 + i, lengths[i]!)];
          const own = await shared.tokenLogprobs(Int32Array.from(tokens), prompt.length, c.temperature);
          const oldLogp = own.map((v, j) => v + shifts[(i + j) % shifts.length]!);
          const refLogp = own.map((v, j) => v - 0.7 * shifts[(i + j + 3) % shifts.length]!);
          const item = { tokens: Int32Array.from(tokens), responseStart: prompt.length, advantage: advantages[i]!, weight: 0.03 + 0.01 * i, oldLogp, refLogp };
          batch.push(item);
          refBatch.push({ ...item, tokens, oldLogp: Array.from(oldLogp), refLogp: Array.from(refLogp) });
        }
        const loss = { epsilon: 0.2, epsilonHigh: 0.2, beta: c.beta, temperature: c.temperature, klMask: c.klMask };

        const together = await shared.backward(batch, loss);
        let lossAlone = 0;
        let tokens = 0;
        for (const item of batch) {
          const r = await alone.backward([item], loss);
          lossAlone += r.loss;
          tokens += r.stats.tokens;
        }
        expect(together.stats.tokens).toBe(tokens);
        expect(together.stats.clipFractionLow + together.stats.clipFractionHigh).toBeGreaterThan(0);
        expect(Math.abs(together.loss - lossAlone)).toBeLessThan(1e-5 * Math.abs(lossAlone));
        const gShared = await shared.loraGradients();
        const gAlone = await alone.loraGradients();

        const ref = runTorchReference(modelPath, shared.loraAdapter(), {
          arch: c.arch, d: cfg.embd, heads: cfg.heads, kvHeads: cfg.kvHeads, layers: cfg.layers,
          eps: c.arch === "qwen2" ? 1e-6 : 1e-5, ropeBase: c.arch === "qwen2" ? 1_000_000 : 10_000,
          epsilon: 0.2, epsilonHigh: 0.2, beta: c.beta, temperature: c.temperature, klMask: c.klMask,
        }, refBatch);
        expect(Math.abs(together.loss - ref.get("loss")!.data[0]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.get("loss")!.data[0]!)));

        const seen = new Set<string>();
        for (const [name, g] of Object.entries(gShared)) {
          const base = name.replace(/\.lora_[ab]$/, "");
          expect(relativeError(g, gAlone[name]!), `${name} vs items one at a time`).toBeLessThan(1e-5);
          const want = ref.get(`grad.${base}.${name.endsWith("lora_a") ? "a" : "b"}`)!.data;
          expect(relativeError(g, want), `${name} vs PyTorch`).toBeLessThan(1e-3);
          expect(Math.max(...want.map(Math.abs)), `${name} has a non-zero reference gradient`).toBeGreaterThan(0);
          seen.add(base.split(".")[2]!);
        }
        expect([...seen].sort()).toEqual([...LORA_TARGETS].sort());
      } finally {
        shared.dispose();
        alone.dispose();
      }
    });
  }
});
