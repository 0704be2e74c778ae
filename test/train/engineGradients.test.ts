// Engine logits and LoRA gradients against an independent float64 PyTorch model of the same weights
// (test/helpers/engine_reference.py, which reads and dequantizes the GGUF itself), for both
// architectures, GQA, tied and untied output, every LoRA target, both KL masks, ratios below, inside
// and above the clip range, and quantized bases (the reference rounds each product's input to the
// weight's vec-dot type as llama.cpp does, straight-through in the backward, like the engine). Each
// tolerance is a small multiple of what the engine achieves on its kind of base; errors planted in the
// reference (beta 1% off, RMSNorm's eps 10x or 1.5x), which the earlier tolerances let through, are
// shown to fail them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel, type TinyModelOptions } from "../../src/gguf/index.js";
import { Engine, LORA_TARGETS } from "../../src/train/index.js";
import {
  FLOAT_BASE_TOLERANCE, QUANTIZED_BASE_TOLERANCE, relativeError, runTorchReference, type ReferenceBatchItem, type ReferenceConfig, type ReferenceTolerance,
} from "../helpers/torchReference.js";

const work = mkdtempSync(join(tmpdir(), "spogw-engine-grad-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Measure = keyof ReferenceTolerance;
/** What the tolerances were before they were measured (float bases; quantized bases had 1e-4 for
 * all three); each planted error below passes them. */
const OLD: Record<"float" | "quantized", ReferenceTolerance> = {
  float: { logits: 1e-5, loss: 1e-4, gradients: 1e-3 },
  quantized: { logits: 1e-4, loss: 1e-4, gradients: 1e-4 },
};

interface PlantedError {
  name: string;
  reference: Partial<ReferenceConfig>;
  /** What it must show up in: beyond the tolerance there, within the old one. */
  caught: Measure[];
}

const F32_SHAPE = { embd: 64, ff: 96, dtype: "f32" } as const;
const K_SHAPE = { embd: 256, ff: 512 } as const; // K-quants need rows of whole 256-value super-blocks
const cases: Array<{ arch: "llama" | "qwen2"; tied: boolean; klMask: "advantage" | "all"; temperature: number; beta: number; embd: number; ff: number; dtype: NonNullable<TinyModelOptions["dtype"]>; planted: PlantedError[] }> = [
  {
    arch: "llama", tied: false, klMask: "advantage", temperature: 1, beta: 0.1, ...F32_SHAPE,
    planted: [{ name: "beta 1% too large", reference: { beta: 0.101 }, caught: ["loss", "gradients"] }],
  },
  {
    arch: "qwen2", tied: true, klMask: "all", temperature: 0.7, beta: 0.3, ...F32_SHAPE,
    planted: [
      { name: "RMSNorm eps 10x too large", reference: { eps: 1e-5 }, caught: ["loss", "gradients"] },
      { name: "RMSNorm eps 1.5x too large", reference: { eps: 1.5e-6 }, caught: ["logits"] },
    ],
  },
  {
    arch: "llama", tied: false, klMask: "advantage", temperature: 1, beta: 0.1, ...K_SHAPE, dtype: "q4_k_m",
    planted: [
      { name: "beta 1% too large", reference: { beta: 0.101 }, caught: ["loss"] },
      { name: "beta 0.3% too large", reference: { beta: 0.1003 }, caught: ["gradients"] },
    ],
  },
  {
    arch: "qwen2", tied: true, klMask: "all", temperature: 0.7, beta: 0.3, ...K_SHAPE, dtype: "q6_k",
    planted: [
      { name: "beta 0.3% too large", reference: { beta: 0.3009 }, caught: ["loss"] },
      { name: "beta 0.04% too large", reference: { beta: 0.30012 }, caught: ["gradients"] },
    ],
  },
  { arch: "llama", tied: true, klMask: "all", temperature: 1, beta: 0.2, embd: 64, ff: 96, dtype: "q4_0", planted: [] },
  { arch: "qwen2", tied: false, klMask: "advantage", temperature: 0.8, beta: 0.1, embd: 64, ff: 96, dtype: "q4_1", planted: [] },
];

// The largest relative errors measured per case, printed after the run (the figures the README quotes).
const measured: string[] = [];
afterAll(() => process.stdout.write(`largest relative error vs PyTorch float64:\n${measured.join("\n")}\n`));

describe("engine gradients vs PyTorch float64", () => {
  for (const c of cases) {
    it(`${c.arch} ${c.dtype} (${c.tied ? "tied" : "untied"}, GQA, klMask ${c.klMask}, T=${c.temperature})`, async () => {
      const modelPath = join(work, `${c.arch}-${c.dtype}.gguf`);
      const cfg = await writeTinyModel(modelPath, { arch: c.arch, seed: 11, layers: 2, embd: c.embd, heads: 4, kvHeads: 2, ff: c.ff, tied: c.tied, dtype: c.dtype });
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

        const kind = c.dtype === "f32" ? "float" : "quantized";
        const tolerance = kind === "float" ? FLOAT_BASE_TOLERANCE : QUANTIZED_BASE_TOLERANCE;
        const errors = errorsAgainst({});
        measured.push(`  ${c.arch} ${c.dtype.padEnd(6)} logits ${errors.logits.toExponential(2)}  loss ${errors.loss.toExponential(2)}  LoRA gradients ${errors.gradients.toExponential(2)}`);
        for (const measure of Object.keys(tolerance) as Measure[]) expect(errors[measure], measure).toBeLessThan(tolerance[measure]);
        for (const [name, error] of errors.perGradient) expect(error, `${name} relative error`).toBeLessThan(tolerance.gradients);
        const seen = new Set([...errors.perGradient.keys()].map((name) => name.split(".")[2]!));
        expect([...seen].sort()).toEqual([...LORA_TARGETS].sort());
        const missedBy = c.planted.map((planted) => errorsAgainst(planted.reference));
        c.planted.forEach((planted, i) => measured.push(`    planted ${planted.name}: ${(Object.keys(tolerance) as Measure[]).map((m) => `${m} ${missedBy[i]![m].toExponential(2)}`).join("  ")}`));
        for (const [i, planted] of c.planted.entries()) {
          const missed = missedBy[i]!;
          for (const measure of planted.caught) {
            expect(missed[measure], `${planted.name}: ${measure}`).toBeGreaterThan(tolerance[measure]);
            expect(missed[measure], `${planted.name}: ${measure}`).toBeLessThan(OLD[kind][measure]);
          }
        }
      } finally {
        engine.dispose();
      }
    }, 300_000);
  }
});
