// Engine logits and LoRA gradients against an independent float64 PyTorch model of the same weights
// (test/reference/engine_reference.py), for both architectures, GQA, tied and untied output, every
// LoRA target, both KL masks, and ratios below, inside and above the clip range.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Engine, LORA_TARGETS } from "../../src/train/index.js";
import { relativeError, runTorchReference, type ReferenceBatchItem } from "../helpers/torchReference.js";

const work = mkdtempSync(join(tmpdir(), "spogw-engine-grad-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cases = [
  { arch: "llama" as const, tied: false, klMask: "advantage" as const, temperature: 1, beta: 0.1 },
  { arch: "qwen2" as const, tied: true, klMask: "all" as const, temperature: 0.7, beta: 0.3 },
];

describe("engine gradients vs PyTorch float64", () => {
  for (const c of cases) {
    it(`${c.arch} (${c.tied ? "tied" : "untied"}, GQA, klMask ${c.klMask}, T=${c.temperature})`, async () => {
      const modelPath = join(work, `${c.arch}.gguf`);
      const cfg = await writeTinyModel(modelPath, { arch: c.arch, seed: 11, layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 96, tied: c.tied });
      const engine = await Engine.load(modelPath);
      try {
        engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 5 });
        // Three responses: positive, negative and zero advantage. old/ref log-probs are shifted from the
        // engine's own so that ratios fall below, inside and above [1 - eps, 1 + eps] and kl != 0.
        const seqs = [
          { tokens: [1, 40, 41, 42, 80, 81, 82, 83, 84, 85, 86], start: 4, advantage: 1.3, weight: 0.05 },
          { tokens: [1, 50, 51, 90, 91, 92, 93, 94], start: 3, advantage: -0.8, weight: 0.07 },
          { tokens: [2, 60, 61, 62, 63, 99, 100], start: 5, advantage: 0, weight: 0.11 },
        ];
        const shifts = [-0.5, -0.1, 0.05, 0.4, -0.3, 0.15, 0.6, -0.05];
        const batch = [];
        const refBatch: ReferenceBatchItem[] = [];
        for (const s of seqs) {
          const tokens = Int32Array.from(s.tokens);
          const own = await engine.tokenLogprobs(tokens, s.start, c.temperature);
          const oldLogp = own.map((v, i) => v + shifts[i % shifts.length]!);
          const refLogp = own.map((v, i) => v - 0.7 * shifts[(i + 3) % shifts.length]!);
          batch.push({ tokens, responseStart: s.start, advantage: s.advantage, weight: s.weight, oldLogp, refLogp });
          refBatch.push({ tokens: s.tokens, responseStart: s.start, advantage: s.advantage, weight: s.weight, oldLogp: Array.from(oldLogp), refLogp: Array.from(refLogp) });
        }
        const loss = { epsilon: 0.2, epsilonHigh: 0.2, beta: c.beta, temperature: c.temperature, klMask: c.klMask };
        const result = await engine.backward(batch, loss);
        expect(result.stats.clipFractionLow + result.stats.clipFractionHigh).toBeGreaterThan(0);
        const grads = await engine.loraGradients();
        const logits = await Promise.all(seqs.map((s) => engine.logits(Int32Array.from(s.tokens))));

        const ref = runTorchReference(modelPath, engine.loraAdapter(), {
          arch: c.arch, d: cfg.embd, heads: cfg.heads, kvHeads: cfg.kvHeads, layers: cfg.layers,
          eps: c.arch === "qwen2" ? 1e-6 : 1e-5, ropeBase: c.arch === "qwen2" ? 1_000_000 : 10_000,
          epsilon: 0.2, epsilonHigh: 0.2, beta: c.beta, temperature: c.temperature, klMask: c.klMask,
        }, refBatch);

        seqs.forEach((_, i) => expect(relativeError(logits[i]!, ref.get(`logits.${i}`)!.data)).toBeLessThan(1e-5));
        expect(Math.abs(result.loss - ref.get("loss")!.data[0]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.get("loss")!.data[0]!)));
        const seen = new Set<string>();
        for (const [name, g] of Object.entries(grads)) {
          const base = name.replace(/\.lora_[ab]$/, "");
          const want = ref.get(`grad.${base}.${name.endsWith("lora_a") ? "a" : "b"}`)!.data;
          const err = relativeError(g, want);
          expect(err, `${name} relative error`).toBeLessThan(1e-3);
          expect(Math.max(...want.map(Math.abs)), `${name} has a non-zero reference gradient`).toBeGreaterThan(0);
          seen.add(base.split(".")[2]!);
        }
        expect([...seen].sort()).toEqual([...LORA_TARGETS].sort());
      } finally {
        engine.dispose();
      }
    });
  }
});
