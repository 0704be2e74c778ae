// AdamW with global-norm clipping, checked against the update written out here in float64 from the
// gradients the engine reports: two steps, decoupled weight decay, bias correction, clipping.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Engine, type BackwardItem } from "../../src/train/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-adamw-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("optimizerStep", () => {
  it("applies clipped AdamW with bias correction and decoupled weight decay, then zeroes the gradients", async () => {
    const modelPath = join(work, "m.gguf");
    await writeTinyModel(modelPath, { arch: "llama", seed: 5, kvHeads: 2 });
    const engine = await Engine.load(modelPath);
    try {
      engine.initLora({ rank: 2, alpha: 4, init: "random", seed: 1, targets: ["attn_v", "ffn_down"] });
      const tokens = Int32Array.from([1, 10, 11, 12, 200, 201, 202]);
      const [lr, wd, b1, b2, eps, maxNorm] = [0.01, 0.1, 0.9, 0.999, 1e-8, 0.05];
      const params = new Map<string, Float64Array>();
      for (const p of engine.loraAdapter().pairs) {
        params.set(`${p.target}.lora_a`, Float64Array.from(p.a));
        params.set(`${p.target}.lora_b`, Float64Array.from(p.b));
      }
      const m = new Map([...params].map(([k, v]) => [k, new Float64Array(v.length)]));
      const v = new Map([...params].map(([k, p]) => [k, new Float64Array(p.length)]));
      const norms: number[] = [];
      for (let t = 1; t <= 2; t++) {
        const own = await engine.tokenLogprobs(tokens, 4, 1);
        const item: BackwardItem = { tokens, responseStart: 4, advantage: t === 1 ? 1 : -1, weight: 1, oldLogp: own, refLogp: own };
        await engine.backward([item], { epsilon: 0.2, epsilonHigh: 0.2, beta: 0, temperature: 1, klMask: "advantage" });
        const grads = await engine.loraGradients();
        const norm = Math.sqrt(Object.values(grads).reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0));
        expect(norm).toBeGreaterThan(maxNorm); // so that clipping is exercised
        const clip = maxNorm / (norm + 1e-6);
        for (const [name, p] of params) {
          const g = grads[name]!;
          const mm = m.get(name)!;
          const vv = v.get(name)!;
          for (let i = 0; i < p.length; i++) {
            const gi = g[i]! * clip;
            mm[i] = b1 * mm[i]! + (1 - b1) * gi;
            vv[i] = b2 * vv[i]! + (1 - b2) * gi * gi;
            const mhat = mm[i]! / (1 - b1 ** t);
            const vhat = vv[i]! / (1 - b2 ** t);
            p[i] = p[i]! - lr * (mhat / (Math.sqrt(vhat) + eps) + wd * p[i]!);
          }
        }
        const { gradNorm } = await engine.optimizerStep({ lr, weightDecay: wd, beta1: b1, beta2: b2, eps, maxGradNorm: maxNorm });
        norms.push(gradNorm);
        expect(gradNorm).toBeCloseTo(norm, 4);
        for (const g of Object.values(await engine.loraGradients())) expect(g.every((x) => x === 0)).toBe(true);
      }
      for (const p of engine.loraAdapter().pairs) {
        for (const [suffix, got] of [["lora_a", p.a], ["lora_b", p.b]] as const) {
          const want = params.get(`${p.target}.${suffix}`)!;
          const worst = Math.max(...Array.from(got, (x, i) => Math.abs(x - want[i]!)));
          expect(worst, `${p.target}.${suffix}`).toBeLessThan(1e-5);
        }
      }
      expect(norms.length).toBe(2);
    } finally {
      engine.dispose();
    }
  });
});
