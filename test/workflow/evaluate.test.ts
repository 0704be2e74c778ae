// evaluateWorkflow / runAndScore: runs averaged per problem, failures scored 0 with their reason, the
// protocol reported with the numbers.
import { describe, expect, it } from "vitest";
import { evaluateWorkflow, loadBenchmark, PROTOCOL_DESCRIPTIONS, runAndScore, type MathProblem } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

describe("evaluateWorkflow", async () => {
  const [right, wrong] = (await loadBenchmark("gsm8k", "train", { dataDir: testDataDir })).slice(0, 2) as MathProblem[];
  // Knows the first problem's answer only.
  const executor = new ScriptedExecutor({ answer: (p) => (p.includes(right!.question) ? `So it is ${right!.goldAnswer}` : "So it is 123456789") });
  const solve = `async function workflow(ops) { return await ops.custom("Solve step by step."); }`;

  it("averages runs per problem, then problems", async () => {
    const evaluation = await evaluateWorkflow(solve, [right!, wrong!], { executor, runs: 2, concurrency: 3 });
    expect(evaluation.runs.map((r) => [r.problemId, r.run, r.score])).toEqual([
      [right!.id, 0, 1],
      [right!.id, 1, 1],
      [wrong!.id, 0, 0],
      [wrong!.id, 1, 0],
    ]);
    expect(evaluation.meanScore).toBe(0.5);
    expect(evaluation.protocol).toBe(PROTOCOL_DESCRIPTIONS.rule);
  });

  it("scores a failing run 0 and keeps the reason", async () => {
    const failing = `async function workflow(ops) { const a = await ops.custom("Solve."); throw new Error("gave up on " + a.length); }`;
    const run = await runAndScore(failing, right!, 0, { executor });
    expect(run).toMatchObject({ score: 0, output: null, calls: 1 });
    expect(run.detail).toMatch(/^workflow failed: the workflow failed: Error: gave up on \d+$/);
  });
});
