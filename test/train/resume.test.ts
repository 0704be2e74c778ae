// An iteration can resume from a saved adapter: saveLora writes the AdamW state beside the adapter,
// and an engine that loads both continues exactly like the one that never stopped.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { Engine, type BackwardItem } from "../../src/train/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-resume-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("optimizer state", () => {
  it("resumes bit-identically after saveLora and loadLora({ optimizer: true }); without the state it differs", async () => {
    const modelPath = join(work, "m.gguf");
    await writeTinyModel(modelPath, { arch: "qwen2", seed: 2, kvHeads: 2 });
    const tokens = Int32Array.from([1, 20, 21, 22, 150, 151, 152]);
    const step = async (e: Engine, advantage: number) => {
      const own = await e.tokenLogprobs(tokens, 4, 1);
      const item: BackwardItem = { tokens, responseStart: 4, advantage, weight: 1 / 3, oldLogp: own, refLogp: own };
      await e.backward([item], { epsilon: 0.2, epsilonHigh: 0.2, beta: 0.1, temperature: 1, klMask: "advantage" });
      await e.optimizerStep({ lr: 1e-2, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 0 });
    };
    const a = await Engine.load(modelPath);
    const b = await Engine.load(modelPath);
    const c = await Engine.load(modelPath);
    try {
      a.initLora({ rank: 4, alpha: 8, seed: 3 });
      await step(a, 1);
      await step(a, -0.5);
      const saved = join(work, "adapter.gguf");
      await a.saveLora(saved);
      await b.loadLora(saved, { optimizer: true });
      await c.loadLora(saved); // weights only: AdamW restarts from zero moments
      for (const e of [a, b, c]) await step(e, 0.8);
      const pa = a.loraAdapter().pairs;
      const pb = b.loraAdapter().pairs;
      const pc = c.loraAdapter().pairs;
      pa.forEach((p, i) => {
        expect(Array.from(pb[i]!.a)).toEqual(Array.from(p.a));
        expect(Array.from(pb[i]!.b)).toEqual(Array.from(p.b));
      });
      expect(pa.some((p, i) => p.b.some((v, j) => v !== pc[i]!.b[j]))).toBe(true);
    } finally {
      for (const e of [a, b, c]) e.dispose();
    }
  });
});
