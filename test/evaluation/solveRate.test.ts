// The paper's evaluation protocol with known outcomes: two hand-made code problems, the IO baseline,
// and a scripted executor per run that answers with correct or wrong code, so the per-run solve rates,
// their mean and their standard deviation are known in advance. Scoring is real (hidden tests in the
// Python sandbox).
import { describe, expect, it } from "vitest";
import type { CodeProblem } from "../../src/benchmarks/problem.js";
import { measureSolveRate, summarizeRuns } from "../../src/evaluation/index.js";
import { baselineWorkflow } from "../../src/workflow/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

function codeProblem(id: string, entryPoint: string, op: string): CodeProblem {
  const input = `def ${entryPoint}(a: int, b: int) -> int:\n    """Return a ${op} b."""\n`;
  return {
    id, benchmark: "humaneval", split: "test", family: "code", question: input, input, entryPoint, prelude: "",
    hiddenTests: `assert ${entryPoint}(2, 3) == (2 ${op} 3)\nassert ${entryPoint}(7, 5) == (7 ${op} 5)\n`,
    publicTests: [], referenceSolution: `def ${entryPoint}(a, b):\n    return a ${op} b\n`, source: { file: "hand-made", line: 1 },
  };
}

const problems = [codeProblem("add", "add", "+"), codeProblem("mul", "mul", "*")];

/** Answers each problem with its correct function when `correct` holds the problem's entry point, else with a wrong one. */
function solver(correct: ReadonlySet<string>): ScriptedExecutor {
  return new ScriptedExecutor({
    answer: (prompt) => {
      const problem = problems.find((p) => prompt.includes(`def ${p.entryPoint}(`))!;
      const op = correct.has(problem.entryPoint) ? (problem.entryPoint === "add" ? "+" : "*") : "-";
      return `\`\`\`python\ndef ${problem.entryPoint}(a, b):\n    return a ${op} b\n\`\`\``;
    },
  });
}

describe("measureSolveRate", () => {
  it("averages each run over the problems, then reports the mean and sample std of the runs", async () => {
    // Run 1 solves both problems, run 2 only `add`, run 3 neither: rates 1, 0.5, 0; mean 0.5; sample std 0.5.
    const perRun = [solver(new Set(["add", "mul"])), solver(new Set(["add"])), solver(new Set())];
    const code = baselineWorkflow("io", "code");
    const result = await measureSolveRate(problems, () => ({ code }), { executor: perRun[0]!, executorForRun: (run) => perRun[run]!, runs: 3, concurrency: 2 });
    expect(result.runSolveRates).toEqual([1, 0.5, 0]);
    expect(result.solveRate).toBe(0.5);
    expect(result.std).toBe(0.5);
    expect(perRun.map((e) => e.requests.length)).toEqual([2, 2, 2]);
    const score = (id: string, run: number) => result.scores.find((s) => s.problemId === id && s.run === run)!.score;
    expect([score("add", 0), score("mul", 0), score("add", 1), score("mul", 1), score("add", 2), score("mul", 2)]).toEqual([1, 1, 1, 0, 0, 0]);
    expect(result.protocolDescription).toMatch(/^rule-based scorers/);
  }, 120_000);

  it("scores a problem without a valid workflow 0 in every run, with the reason, and calls nothing for it", async () => {
    const executor = solver(new Set(["add", "mul"]));
    const code = baselineWorkflow("io", "code");
    const result = await measureSolveRate(problems, (p) => (p.id === "mul" ? { invalidReason: "no `async function workflow` in the completion" } : { code }), { executor, runs: 3 });
    expect(result.runSolveRates).toEqual([0.5, 0.5, 0.5]);
    expect(result.std).toBe(0);
    expect(executor.requests.length).toBe(3);
    for (const s of result.scores.filter((x) => x.problemId === "mul")) expect([s.score, s.detail]).toEqual([0, "invalid workflow: no `async function workflow` in the completion"]);
  }, 120_000);

  it("refuses zero runs and an empty problem list", async () => {
    const executor = solver(new Set());
    await expect(measureSolveRate(problems, () => ({ code: "" }), { executor, runs: 0 })).rejects.toThrow("runs must be a positive whole number, got 0");
    await expect(measureSolveRate([], () => ({ code: "" }), { executor, runs: 3 })).rejects.toThrow("no problems to evaluate");
    expect(() => summarizeRuns([])).toThrow("an evaluation needs at least one run");
    expect(summarizeRuns([0.25])).toEqual({ solveRate: 0.25, std: 0 });
  });
});
