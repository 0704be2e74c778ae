// Engine logits and LoRA gradients against an independent float64 PyTorch model of the same weights
// (test/helpers/engine_reference.py), for both architectures, GQA, tied and untied output, every
// LoRA target, both KL masks, and ratios below, inside and above the clip range. Each tolerance is a
// small multiple of what the engine achieves; errors planted in the reference (beta 1% off, RMSNorm's
// eps 10x or 1.5x), which the earlier tolerances let through, are shown to fail them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Engine, LORA_TARGETS } from "../../src/train/index.js";
import {
  GRADIENT_TOLERANCE, LOGITS_TOLERANCE, LOSS_TOLERANCE, relativeError, runTorchReference, type ReferenceBatchItem, type ReferenceConfig,
} from "../helpers/torchReference.js";

const work = mkdtempSync(join(tmpdir(), "spogw-engine-grad-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What the tolerances were before they were measured; each planted error below passes them. */
const OLD = { logits: 1e-5, loss: 1e-4, gradients: 1e-3 };

type Measure = keyof typeof OLD;
const TOLERANCE: Record<Measure, number> = { logits: LOGITS_TOLERANCE, loss: LOSS_TOLERANCE, gradients: GRADIENT_TOLERANCE };

interface PlantedError {
  name: string;
  reference: Partial<ReferenceConfig>;
  /** What it must show up in: beyond the tolerance there, within the old one. */
  caught: Measure[];
}

const cases: Array<{ arch: "llama" | "qwen2"; tied: boolean; klMask: "advantage" | "all"; temperature: number; beta: number; planted: PlantedError[] }> = [
  {
    arch: "llama", tied: false, klMask: "advantage", temperature: 1, beta: 0.1,
    planted: [{ name: "beta 1% too large", reference: { beta: 0.101 }, caught: ["loss", "gradients"] }],
  },
  {
    arch: "qwen2", tied: true, klMask: "all", temperature: 0.7, beta: 0.3,
    planted: [
      { name: "RMSNorm eps 10x too large", reference: { eps: 1e-5 }, caught: ["loss", "gradients"] },
      { name: "RMSNorm eps 1.5x too large", reference: { eps: 1.5e-6 }, caught: ["logits"] },
    ],
  },
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

        const config: ReferenceConfig = {
          arch: c.arch, d: cfg.embd, heads: cfg.heads, kvHeads: cfg.kvHeads, layers: cfg.layers,
          eps: c.arch === "qwen2" ? 1e-6 : 1e-5, ropeBase: c.arch === "qwen2" ? 1_000_000 : 10_000,
          epsilon: 0.2, epsilonHigh: 0.2, beta: c.beta, temperature: c.temperature, klMask: c.klMask,
        };
        // The engine's largest error against a reference run with `change` applied to its config.
        const errorsAgainst = (change: Partial<ReferenceConfig>): Record<Measure, number> & { perGradient: Map<string, number> } => {
          const ref = runTorchReference(modelPath, engine.loraAdapter(), { ...config, ...change }, refBatch);
          const wantLoss = ref.get("loss")!.data[0]!;
          const perGradient = new Map<string, number>();
          for (const [name, g] of Object.entries(grads)) {
            const base = name.replace(/\.lora_[ab]$/, "");
            const want = ref.get(`grad.${base}.${name.endsWith("lora_a") ? "a" : "b"}`)!.data;
            expect(Math.max(...want.map(Math.abs)), `${name} has a non-zero reference gradient`).toBeGreaterThan(0);
            perGradient.set(name, relativeError(g, want));
          }
          return {
            logits: Math.max(...seqs.map((_, i) => relativeError(logits[i]!, ref.get(`logits.${i}`)!.data))),
            loss: Math.abs(result.loss - wantLoss) / Math.max(1, Math.abs(wantLoss)),
            gradients: Math.max(...perGradient.values()),
            perGradient,
          };
        };

        const errors = errorsAgainst({});
        for (const measure of Object.keys(OLD) as Measure[]) expect(errors[measure], measure).toBeLessThan(TOLERANCE[measure]);
        for (const [name, error] of errors.perGradient) expect(error, `${name} relative error`).toBeLessThan(GRADIENT_TOLERANCE);
        const seen = new Set([...errors.perGradient.keys()].map((name) => name.split(".")[2]!));
        for (const planted of c.planted) {
          const missed = errorsAgainst(planted.reference);
          for (const measure of planted.caught) {
            expect(missed[measure], `${planted.name}: ${measure}`).toBeGreaterThan(TOLERANCE[measure]);
            expect(missed[measure], `${planted.name}: ${measure}`).toBeLessThan(OLD[measure]);
          }
        }
        expect([...seen].sort()).toEqual([...LORA_TARGETS].sort());
      } finally {
        engine.dispose();
      }
    }, 300_000);
  }
});
