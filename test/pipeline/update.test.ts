// The update phase: the step plan, old = ref = the sampling policy's log-probs stored once (so the first
// step has ratio 1 and kl 0), the base-model reference ablation, and the KL options reaching the loss.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SeededRandom } from "../../src/util/seededRandom.js";
import { writeTinyModel } from "../../src/gguf/index.js";
import { createSimulatedTask, openRun, resolveConfig, runCollect, runDataset, runUpdate, stepPlan, type RunConfig } from "../../src/pipeline/index.js";
import { Engine } from "../../src/train/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-update-"));
const model = join(work, "model.gguf");
beforeAll(() => writeTinyModel(model, { arch: "llama", seed: 7, kvHeads: 2 }));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let runs = 0;
/** A small simulated run through `iterations` updates; returns its context (closed by the caller). */
async function trainedRun(overrides: Partial<RunConfig>, iterations: number) {
  const config = resolveConfig({
    task: "simulated", generator: model, simulatedQueries: 3, samplesPerQuery: 4, groupSize: 3, keep: 1, topN: 6, maxTokens: 48,
    epochs: 2, groupsPerStep: 2, learningRate: 5e-3, engineThreads: 1, generatorSequences: 1, iterations, ...overrides,
  });
  const ctx = openRun(join(work, `run-${runs++}`), config, createSimulatedTask({ queries: config.simulatedQueries, seed: config.seed }));
  for (let it = 0; it < iterations; it++) {
    await runCollect(ctx, it);
    runDataset(ctx, it);
    await runUpdate(ctx, it);
  }
  return ctx;
}

function sequenceOf(s: { promptTokens: Int32Array; completionTokens: Int32Array }): Int32Array {
  return Int32Array.from([...s.promptTokens, ...s.completionTokens]);
}

describe("update phase", () => {
  it("plans steps so that every epoch visits each group once, in a seeded order", () => {
    const plan = stepPlan(5, 2, 2, (epoch) => new SeededRandom(3, `e${epoch}`));
    expect(plan.map((s) => [s.epoch, s.groups.length])).toEqual([[0, 2], [0, 2], [0, 1], [1, 2], [1, 2], [1, 1]]);
    for (const epoch of [0, 1]) expect(plan.filter((s) => s.epoch === epoch).flatMap((s) => s.groups).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(stepPlan(5, 2, 2, (epoch) => new SeededRandom(3, `e${epoch}`))).toEqual(plan);
    expect(stepPlan(0, 3, 2, (epoch) => new SeededRandom(3, `e${epoch}`))).toEqual([]);
  });

  it("stores old = ref = the sampling policy's log-probs once; the first step has ratio 1 and kl 0", async () => {
    const ctx = await trainedRun({}, 1);
    try {
      const groups = ctx.store.groups(0);
      expect(groups.length).toBeGreaterThan(0);
      const members = new Set(groups.flatMap((g) => g.members.map((i) => `${g.queryId}\t${i}`)));
      const logprobs = ctx.store.logprobs(0);
      expect(new Set(logprobs.keys())).toEqual(members);
      // Iteration 0 samples from the base model: an independent engine without adapter gives the same numbers.
      const base = await Engine.load(model, { threads: 1 });
      try {
        for (const s of ctx.store.samples(0).filter((x) => members.has(`${x.queryId}\t${x.sampleIndex}`))) {
          const expected = await base.tokenLogprobs(sequenceOf(s), s.promptTokens.length, 1);
          const stored = logprobs.get(`${s.queryId}\t${s.sampleIndex}`)!;
          expect(stored.reference).toBeNull();
          expect([...stored.policy]).toEqual([...expected]);
        }
      } finally {
        base.dispose();
      }
      const [first, ...rest] = ctx.store.updateSteps(0);
      expect(first!.stats.ratioMean).toBe(1);
      expect(first!.stats.klMean).toBe(0);
      expect(rest.length + 1).toBe(Math.ceil(groups.length / 2) * 2);
      expect(rest.some((s) => s.stats.ratioMean !== 1)).toBe(true);
    } finally {
      await ctx.close();
    }
  }, 120_000);

  it("with reference = base, iteration 1 stores the base model's log-probs beside adapter 1's", async () => {
    const ctx = await trainedRun({ reference: "base" }, 2);
    try {
      const adapter1 = ctx.path(ctx.store.adapter(1)!.gguf);
      const base = await Engine.load(model, { threads: 1 });
      const tuned = await Engine.load(model, { threads: 1 });
      await tuned.loadLora(adapter1);
      try {
        const logprobs = ctx.store.logprobs(1);
        expect(logprobs.size).toBeGreaterThan(0);
        for (const s of ctx.store.samples(1)) {
          const stored = logprobs.get(`${s.queryId}\t${s.sampleIndex}`);
          if (!stored) continue;
          expect([...stored.reference!]).toEqual([...(await base.tokenLogprobs(sequenceOf(s), s.promptTokens.length, 1))]);
          expect([...stored.policy]).toEqual([...(await tuned.tokenLogprobs(sequenceOf(s), s.promptTokens.length, 1))]);
          expect([...stored.policy]).not.toEqual([...stored.reference!]);
        }
        // ref != old: the KL term is non-zero from the first step on.
        expect(ctx.store.updateSteps(1)[0]!.stats.klMean).toBeGreaterThan(0);
      } finally {
        base.dispose();
        tuned.dispose();
      }
    } finally {
      await ctx.close();
    }
  }, 180_000);

  it("the KL mask changes the update only when beta > 0", async () => {
    const losses = async (overrides: Partial<RunConfig>) => {
      const ctx = await trainedRun(overrides, 1);
      try {
        return ctx.store.updateSteps(0).map((s) => s.loss);
      } finally {
        await ctx.close();
      }
    };
    const [maskOn, maskOff] = [await losses({ klMask: "advantage" }), await losses({ klMask: "all" })];
    expect(maskOn[0]).toBe(maskOff[0]); // kl = 0 at the first step either way
    expect(maskOn.slice(1)).not.toEqual(maskOff.slice(1));
    expect(await losses({ klMask: "advantage", beta: 0 })).toEqual(await losses({ klMask: "all", beta: 0 }));
  }, 180_000);
});
