// Cost-aware rewards on the simulated task: the same run with costWeight L = 0 and L = 0.5 samples and
// scores the same workflows (the raw scores are unchanged); with L > 0 every stored reward is
// score - L * tokens / 1000, the tokens being those the simulated executor spends on the workflow's
// steps (written out here from the documented token model), and the dataset trains on the rewards.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { createSimulatedTask, importCollection, openRun, parseSimulatedWorkflow, resolveConfig, runCollect, runDataset, RunStore, sampleKey } from "../../src/pipeline/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-cost-"));
const model = join(work, "model.gguf");
beforeAll(() => writeTinyModel(model, { arch: "llama", seed: 7, kvHeads: 2 }));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Tokens by hand: a draft 120; per step: review 200, ensemble 2 drafts + a 150-token vote, custom 0 first (it is the draft) else 60. */
function tokensByHand(workflow: string): number {
  return parseSimulatedWorkflow(workflow).reduce((t, step, i) => t + (step === "review" ? 200 : step === "scEnsemble" ? 390 : i === 0 ? 0 : 60), 120);
}

const SETTINGS = { task: "simulated", generator: model, simulatedQueries: 3, samplesPerQuery: 6, groupSize: 4, keep: 1, scoreRuns: 2, maxTokens: 48 };

async function collectAndGroup(name: string, costWeight: number) {
  const config = resolveConfig(SETTINGS, { costWeight });
  const ctx = openRun(join(work, name), config, createSimulatedTask({ queries: 3, seed: config.seed }));
  try {
    const collect = await runCollect(ctx, 0);
    const dataset = runDataset(ctx, 0);
    return { collect, dataset, samples: ctx.store.samples(0), executions: ctx.store.executions(0), groups: ctx.store.groups(0) };
  } finally {
    await ctx.close();
  }
}

describe("costWeight", () => {
  it("stores reward = score - L * tokens / 1000 beside the unchanged score, and trains on the rewards", async () => {
    const plain = await collectAndGroup("plain", 0);
    const costly = await collectAndGroup("costly", 0.5);
    // Same workflows, same scores and tokens: only the rewards differ.
    expect(costly.samples.map((s) => s.text)).toEqual(plain.samples.map((s) => s.text));
    expect(costly.executions.map((e) => [e.score, e.executorTokens])).toEqual(plain.executions.map((e) => [e.score, e.executorTokens]));
    const workflowOf = new Map(costly.samples.map((s) => [sampleKey(s.queryId, s.sampleIndex), s.workflow!]));
    for (const e of costly.executions) {
      const tokens = tokensByHand(workflowOf.get(sampleKey(e.queryId, e.sampleIndex))!);
      expect(e.executorTokens).toBe(tokens);
      expect(e.reward).toBe(e.score - (0.5 * tokens) / 1000);
    }
    for (const e of plain.executions) expect(e.reward).toBe(e.score);
    expect(new Set(costly.executions.map((e) => e.executorTokens)).size).toBeGreaterThan(1); // workflows of different cost
    expect(costly.collect.meanScore).toBe(plain.collect.meanScore);
    expect(costly.collect.meanReward).toBeCloseTo(plain.collect.meanScore - (0.5 * costly.collect.meanExecutorTokens) / 1000, 12);
    // The groups hold each member's mean reward.
    const rewards = new Map<string, number[]>();
    for (const e of costly.executions) rewards.set(sampleKey(e.queryId, e.sampleIndex), [...(rewards.get(sampleKey(e.queryId, e.sampleIndex)) ?? []), e.reward]);
    const meanReward = (key: string) => rewards.get(key)!.reduce((a, b) => a + b, 0) / rewards.get(key)!.length;
    expect(costly.groups.length).toBeGreaterThan(0);
    for (const g of costly.groups) g.members.forEach((m, i) => expect(g.scores[i]).toBeCloseTo(meanReward(sampleKey(g.queryId, m)), 12));
  }, 300_000);

  it("says when screening chose among a sample of the groups (C(m, n) above maxCombinations)", async () => {
    // The collection of the run above, imported: C(6, 4) = 15 groups per query, at most 5 considered.
    const warnings: string[] = [];
    const config = resolveConfig(SETTINGS, { maxCombinations: 5 });
    const ctx = openRun(join(work, "sampled"), config, createSimulatedTask({ queries: 3, seed: config.seed }), { onWarning: (w) => warnings.push(w) });
    try {
      const source = RunStore.open(join(work, "plain"));
      expect(importCollection(source, ctx.store)).toBe(true);
      source.close();
      expect(runDataset(ctx, 0).sampledCombinations).toBe(true);
      expect(warnings).toContain("dataset of iteration 0: C(6, 4) groups per query exceed maxCombinations (5), so screening chose among a seeded sample of them; raise --max-combinations for exact screening");
    } finally {
      await ctx.close();
    }
  });
});
