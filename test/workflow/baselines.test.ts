// The Table 1 baselines: each is a well-formed workflow for every family, and makes the calls its
// method prescribes (CoT-SC 5 samples, MedPrompt 3 responses and 5 votes, Self-Refine 2 rounds, ...).
import { describe, expect, it } from "vitest";
import { BASELINE_NAMES, baselineWorkflow, runWorkflow, validateWorkflow, type WorkflowProblem } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const problems: Record<"math" | "code" | "qa", WorkflowProblem> = {
  math: { id: "m", family: "math", input: "What is 2 + 3?" },
  qa: { id: "q", family: "qa", input: "Question: Who wrote Hamlet?" },
  code: { id: "c", family: "code", input: "def add(a, b):\n    \"\"\"Add a and b.\"\"\"\n", entryPoint: "add", publicTests: [], prelude: "" },
};

/** Operator calls each baseline makes, from its definition in the paper's baselines section. */
const expectedCalls: Record<string, number> = { io: 1, cot: 1, "cot-sc": 6, medprompt: 8, multipersona: 5, "self-refine": 3 };

describe("baselines", () => {
  it.each(BASELINE_NAMES.flatMap((name) => (["math", "code", "qa"] as const).map((family) => ({ name, family }))))(
    "$name ($family) is a valid workflow and makes its prescribed calls",
    async ({ name, family }) => {
      const code = baselineWorkflow(name, family);
      const check = validateWorkflow(code, family, { minCalls: 1, maxCalls: 20, maxTemplateSimilarity: 1.01, maxLoopIterations: 5 });
      expect(check.reason).toBeNull();
      let n = 0;
      const executor = new ScriptedExecutor({
        answer: (p) => (p.includes("<solution_letter>") ? "<solution_letter>A</solution_letter>" : `answer ${++n}`),
      });
      const result = await runWorkflow(code, problems[family], { executor });
      expect(result.error).toBeNull();
      expect(result.calls).toBe(expectedCalls[name]);
      expect(result.output).toMatch(/answer \d+|revised/);
    },
  );

  it("CoT-SC draws 5 distinct samples (seeds 0..4) and returns the ensemble's choice", async () => {
    const executor = new ScriptedExecutor({
      answer: (p, r) => (p.includes("<solution_letter>") ? "<solution_letter>D</solution_letter>" : `sample with seed ${r.seed ?? 0}`),
    });
    const result = await runWorkflow(baselineWorkflow("cot-sc", "math"), problems.math, { executor });
    const seeds = executor.requests.slice(0, 5).map((r) => r.seed ?? 0);
    expect(seeds).toEqual([0, 1, 2, 3, 4]);
    expect(executor.requests[0]!.messages[0]!.content).toContain("\\boxed{}");
    expect(result.output).toBe("sample with seed 3");
  });

  it("MedPrompt returns the majority of its 5 votes over reordered candidates", async () => {
    // Votes name the candidate in position A each time; the orders differ, so the voted texts differ.
    let vote = 0;
    const chosenLetters = ["C", "A", "C", "B", "C"];
    const executor = new ScriptedExecutor({
      answer: (p, r) => (p.includes("<solution_letter>") ? `<solution_letter>${chosenLetters[vote++]}</solution_letter>` : `response ${r.seed ?? 0}`),
    });
    const result = await runWorkflow(baselineWorkflow("medprompt", "qa"), problems.qa, { executor });
    const ballots = executor.requests.filter((r) => r.messages[0]!.content.includes("<solution_letter>"));
    expect(ballots).toHaveLength(5);
    // Recompute each vote's winner from the order shown in its prompt, then take the majority.
    const winners = ballots.map((b, i) => {
      const letter = chosenLetters[i]!;
      const match = new RegExp(`${letter}: (response \\d)`).exec(b.messages[0]!.content);
      return match![1];
    });
    const counts = new Map<string, number>();
    for (const w of winners) counts.set(w!, (counts.get(w!) ?? 0) + 1);
    const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    expect(result.output).toBe(majority);
  });

  it("MultiPersona shows each persona the other's first answer; Self-Refine feeds back its previous answer", async () => {
    const executor = new ScriptedExecutor({ answer: (p) => (p.includes("<solution_letter>") ? "<solution_letter>A</solution_letter>" : p.includes("meticulous") && !p.includes("Another expert") ? "ANSWER-ONE" : "ANSWER-TWO") });
    await runWorkflow(baselineWorkflow("multipersona", "math"), problems.math, { executor });
    const debate = executor.requests.map((r) => r.messages[0]!.content).filter((c) => c.includes("Another expert"));
    expect(debate).toHaveLength(2);
    expect(debate.find((c) => c.includes("meticulous"))).toContain("ANSWER-TWO");
    expect(debate.find((c) => c.includes("creative"))).toContain("ANSWER-ONE");

    let round = 0;
    const refiner = new ScriptedExecutor({ answer: () => `def add(a, b):\n    return a + b  # version ${round++}` });
    const refined = await runWorkflow(baselineWorkflow("self-refine", "code"), problems.code, { executor: refiner });
    expect(refiner.requests).toHaveLength(3);
    expect(refiner.requests[1]!.messages[0]!.content).toContain("# version 0");
    expect(refiner.requests[2]!.messages[0]!.content).toContain("# version 1");
    expect(refined.output).toContain("# version 2");
  });
});
