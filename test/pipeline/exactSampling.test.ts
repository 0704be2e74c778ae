// With exactSampling (the default) the run's sampler is the model the engine trains, bit for bit:
// node-llama-cpp's next-token probabilities equal the softmax of the engine's logits to float
// rounding. Turned off, llama.cpp's F16 KV cache moves them measurably.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { createSimulatedTask, openRun, resolveConfig } from "../../src/pipeline/index.js";
import { maxProbabilityGap, PROBABILITY_GAP_TOLERANCE } from "../helpers/probabilityGap.js";

const work = mkdtempSync(join(tmpdir(), "spogw-exact-sampling-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TOKENS = Array.from({ length: 40 }, (_, i) => 1 + ((i * 29 + 7) % 250));

async function samplerVsEngineGap(model: string, exactSampling: boolean, run: string): Promise<number> {
  const config = resolveConfig({ task: "simulated", generator: model, exactSampling, generatorSequences: 1 });
  const ctx = openRun(join(work, run), config, createSimulatedTask({ queries: 2, seed: 0 }));
  try {
    const sampler = await (await ctx.generatorFor(0)).nextTokenDistributions(TOKENS);
    const engine = await ctx.trainingEngine();
    const logits = await engine.logits(Int32Array.from(TOKENS));
    return maxProbabilityGap(logits, engine.config.vocabSize, sampler.length, (i, t) => sampler[i]![t]!);
  } finally {
    await ctx.close();
  }
}

it("the run's sampler gives the engine's probabilities with exactSampling, and not without", async () => {
  const model = join(work, "model.gguf");
  await writeTinyModel(model, { arch: "qwen2", dtype: "f16", kvHeads: 2, layers: 2, seed: 4 });
  const exact = await samplerVsEngineGap(model, true, "exact");
  const defaults = await samplerVsEngineGap(model, false, "defaults");
  expect(exact).toBeLessThan(PROBABILITY_GAP_TOLERANCE);
  expect(defaults).toBeGreaterThan(10 * exact);
});
