// The corpus of completions through the whole path: parseWorkflow -> runWorkflow -> scoreAnswer, on
// real benchmark problems, each with the outcome stated in corpus/completions.ts.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBenchmark, parseWorkflow, runWorkflow, scoreAnswer, type Problem } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";
import { corpus } from "./corpus/completions.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const canary = `corpus-canary-${randomBytes(8).toString("hex")}`;
const GUESS = "Unknown.";

/** Right only when asked to work step by step, review, compute with a program, or repair code. */
function corpusAnswer(problem: Problem, prompt: string): string {
  const gold = problem.family === "math" ? problem.goldAnswer : problem.family === "qa" ? problem.goldAnswers[0]! : "";
  const reference = problem.family === "code" ? "```python\n" + problem.referenceSolution + "\n```" : "";
  const instruction = prompt.split("\n\n")[0] ?? "";
  if (prompt.includes("<solution_letter>")) return "<thought>A is best</thought><solution_letter>A</solution_letter>";
  if (prompt.includes("<revised_solution>")) return `<feedback>checked</feedback><revised_solution>${gold}</revised_solution>`;
  if (prompt.includes("<answer>")) return `<thought>reasoning</thought><answer>${gold}</answer>`;
  if (prompt.includes("function solve()")) return "```python\ndef solve():\n    return " + gold + "\n```";
  if (prompt.includes("fails a public test")) return "The draft returned None.\n" + reference;
  if (problem.family === "code") {
    const entry = problem.entryPoint;
    return /edge cases/.test(instruction) ? reference : "```python\ndef " + entry + "(*args):\n    return None\n```";
  }
  if (/step by step/i.test(instruction)) return problem.family === "math" ? `Working step by step, the answer is ${gold}.` : gold;
  return GUESS;
}

describe("corpus of completions: parse -> validate -> execute -> score", async () => {
  const [gsm8k, humaneval, hotpotqa] = await Promise.all([
    loadBenchmark("gsm8k", "train", { dataDir: testDataDir }),
    loadBenchmark("humaneval", "train", { dataDir: testDataDir }),
    loadBenchmark("hotpotqa", "train", { dataDir: testDataDir }),
  ]);
  const problems: Record<string, Problem> = {
    gsm8k: gsm8k[0]!,
    humaneval: humaneval.find((p) => p.family === "code" && p.publicTests.length > 0)!,
    hotpotqa: hotpotqa[0]!,
  };
  const requests: string[] = [];
  const outputs: string[] = [];

  beforeAll(() => {
    process.env.SPOGW_CORPUS_CANARY = canary;
  });
  afterAll(() => {
    delete process.env.SPOGW_CORPUS_CANARY;
  });

  it("uses problems where the corpus executor's guess is wrong", () => {
    const qa = problems.hotpotqa!;
    expect(qa.family === "qa" && qa.goldAnswers.join(" ").toLowerCase()).not.toContain("unknown");
    expect(problems.humaneval!.family).toBe("code");
  });

  it.each(corpus)("$name", async ({ benchmark, completion, expected }) => {
    const problem = problems[benchmark]!;
    const parsed = parseWorkflow(completion, problem.family, { question: problem.question });
    if (expected.kind === "invalid") {
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toMatch(expected.reason);
      return;
    }
    if (!parsed.ok) throw new Error(`expected a valid workflow, got: ${parsed.reason}`);
    const executor = new ScriptedExecutor({ answer: (prompt) => corpusAnswer(problem, prompt) });
    const run = await runWorkflow(parsed.code, problem, { executor, limits: { maxCalls: 12, wallMs: 30_000 } });
    requests.push(...executor.requests.map((r) => JSON.stringify(r)));
    if (expected.kind === "failed") {
      expect(run.output).toBeNull();
      expect(run.error).toMatch(expected.error);
      return;
    }
    expect(run.error).toBeNull();
    outputs.push(run.output!);
    const score = await scoreAnswer(problem, run.output!);
    expect(score.score, score.detail).toBe(expected.score);
  });

  it("never exposed the canary to the executor or in an output", () => {
    expect(requests.length).toBeGreaterThan(20);
    expect(requests.join("\n") + outputs.join("\n")).not.toContain(canary);
  });
});
