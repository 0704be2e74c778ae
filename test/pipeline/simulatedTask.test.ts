// The demo's simulated task family: the workflow syntax and its grammar, and the probability model against
// hand-computed success probabilities.
import { describe, expect, it } from "vitest";
import { SeededRandom } from "../../src/util/seededRandom.js";
import {
  createSimulatedTask, decodeSimulatedWorkflow, parseSimulatedWorkflow, renderSimulatedWorkflow, simulateRun, simulatedDifficulty,
  SIMULATED_WORKFLOW_GRAMMAR,
} from "../../src/pipeline/index.js";

function successRate(steps: string[], difficulty: number, runs = 40_000): number {
  const random = new SeededRandom(1, steps.join());
  let wins = 0;
  for (let i = 0; i < runs; i++) if (simulateRun(steps, difficulty, random)) wins++;
  return wins / runs;
}

describe("simulated task family", () => {
  it("decodes one operator name per line, drops a cut-off last step, and names what is invalid", () => {
    expect(decodeSimulatedWorkflow("review\nensemble\ncustom\ncustom\n")).toEqual({ ok: true, steps: ["review", "scEnsemble", "custom", "custom"] });
    expect(decodeSimulatedWorkflow("ensemble\nrev")).toEqual({ ok: true, steps: ["scEnsemble"] });
    expect(decodeSimulatedWorkflow("ensem")).toEqual({ ok: false, reason: "no complete step (a workflow is one operator name per line)" });
    expect(decodeSimulatedWorkflow("custom\nplan\n")).toEqual({ ok: false, reason: 'line 2 "plan" is not custom, review or ensemble' });
    expect(decodeSimulatedWorkflow("custom\n".repeat(5))).toEqual({ ok: false, reason: "5 steps (at most 4)" });
    const task = createSimulatedTask({ queries: 1, seed: 0 });
    const parsed = task.parse({ text: "custom\nreview\n", tokens: [], finishReason: "eog" }, task.queries[0]!);
    expect(parsed.ok && parseSimulatedWorkflow(parsed.workflow)).toEqual(["custom", "review"]);
    const steps = ["custom", "review", "scEnsemble"] as const;
    expect(parseSimulatedWorkflow(renderSimulatedWorkflow(steps))).toEqual(steps);
  });

  it("asks for grammar-constrained generation whose language is exactly the workflow syntax", () => {
    const task = createSimulatedTask({ queries: 1, seed: 0 });
    expect(task.grammar).toBe(SIMULATED_WORKFLOW_GRAMMAR);
    expect(SIMULATED_WORKFLOW_GRAMMAR).toBe('root ::= step step? step? step?\nstep ::= ("custom" | "review" | "ensemble") "\\n"\n');
  });

  it("draws success with the documented probabilities", () => {
    // d = 0.5: a draft is right with p = .5
    expect(successRate(["custom"], 0.5)).toBeCloseTo(0.5, 1);
    // review: .5 * (1 - .05) + .5 * .5 = .725
    expect(Math.abs(successRate(["review"], 0.5) - 0.725)).toBeLessThan(0.015);
    // ensemble of three independent p = .4 drafts: 3 p^2 (1 - p) + p^3 = .352
    expect(Math.abs(successRate(["scEnsemble"], 0.6) - 0.352)).toBeLessThan(0.015);
    // later custom calls do not change correctness
    expect(Math.abs(successRate(["review", "custom", "custom"], 0.5) - 0.725)).toBeLessThan(0.015);
    // two reviews: right after one = .725; after two: .725 * .95 + .275 * .5 = .82625
    expect(Math.abs(successRate(["review", "review"], 0.5) - 0.82625)).toBeLessThan(0.015);
    expect([simulatedDifficulty(0, 5), simulatedDifficulty(4, 5)]).toEqual([0.4, 0.9]);
  });

  it("scores reproducibly per (seed, query, workflow, run) and says it is simulated", async () => {
    const task = createSimulatedTask({ queries: 3, seed: 5 });
    expect(task.simulated).toBe(true);
    expect(task.queries.map((q) => q.id)).toEqual(["sim-000", "sim-001", "sim-002"]);
    const parsed = task.parse({ text: "review\ncustom\n", tokens: [], finishReason: "eog" }, task.queries[0]!);
    expect(parsed.ok).toBe(true);
    const workflow = (parsed as { workflow: string }).workflow;
    const scores = await Promise.all([0, 1, 2, 0].map((run) => task.execute(workflow, task.queries[1]!, run)));
    expect(scores[3]).toEqual(scores[0]);
    for (const s of scores) expect([0, 1]).toContain(s.score);
  });
});
