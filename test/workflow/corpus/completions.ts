// Generator completions in the forms generators produce them (ending at the </workflow> stop string,
// inside a ```js fence, wrapped in prose, cut off), written for this corpus, each with the outcome
// expected through parse -> validate -> execute -> score. Scores assume the corpus executor in
// corpus.test.ts: it answers correctly only when asked to work step by step, to review, to compute
// with a program, or to repair code; it guesses otherwise.

export type Expected =
  | { kind: "invalid"; reason: RegExp }
  /** Valid, ran to an output, scored `score`. */
  | { kind: "scored"; score: number }
  /** Valid (the validator is not the security boundary), failed at run time: score 0 with `error`. */
  | { kind: "failed"; error: RegExp };

export interface CorpusEntry {
  name: string;
  benchmark: "gsm8k" | "humaneval" | "hotpotqa";
  completion: string;
  expected: Expected;
}

export const corpus: CorpusEntry[] = [
  {
    name: "math: two step-by-step attempts, ensemble, review",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const solutions = [];
  for (let i = 0; i < 2; i++) {
    solutions.push(await ops.custom("Solve the problem step by step and state the final number."));
  }
  const best = await ops.scEnsemble(solutions);
  return await ops.review(best);
}
</workflow>`,
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "math: guesses only, ensemble picks a guess",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Give a quick answer.");
  const b = await ops.custom("Answer in one word.");
  return await ops.scEnsemble([a, b]);
}
</workflow>`,
    expected: { kind: "scored", score: 0 },
  },
  {
    name: "math: analysis, program, ensemble led by the computed answer (fenced, with prose)",
    benchmark: "gsm8k",
    completion: "Here is an improved workflow:\n```javascript\nasync function workflow(ops) {\n  const analysis = await ops.custom(\"Analyse the quantities involved.\");\n  const computed = await ops.programmer(analysis);\n  const guess = await ops.custom(\"Estimate the result.\");\n  return await ops.scEnsemble([computed, guess]);\n}\n```\nIt computes the answer with a program.",
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "math: parallel attempts with Promise.all and a literal map",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const styles = ["step by step", "step by step, checking units", "step by step, backwards"];
  const attempts = await Promise.all(styles.map((s) => ops.custom("Solve it " + s + ".")));
  return await ops.scEnsemble(attempts);
}
</workflow>`,
    // A map over a variable counts as a full loop (5 calls) in the static estimate: still within 8.
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "math: the same with the array written inline",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const attempts = await Promise.all(["step by step", "step by step, checking units"].map((s) => ops.custom("Solve it " + s + ".")));
  const best = await ops.scEnsemble(attempts);
  return best;
}
</workflow>`,
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "malformed: cut off by the token limit",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const solutions = [];
  for (let i = 0; i < 3; i++) {
    solutions.push(await ops.custom("Solve the problem step by`,
    expected: { kind: "invalid", reason: /not closed|syntax error/ },
  },
  {
    name: "malformed: Python instead of JavaScript",
    benchmark: "gsm8k",
    completion: `async def run_workflow(self):
    solution = await self.custom(instruction="Solve it")
    return solution
</workflow>`,
    expected: { kind: "invalid", reason: /no `async function workflow`/ },
  },
  {
    name: "malformed: syntax error",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Solve step by step.";
  const b = await ops.review(a);
  return await ops.scEnsemble([a, b]);
}
</workflow>`,
    expected: { kind: "invalid", reason: /syntax error/ },
  },
  {
    name: "malformed: unknown operator for the family",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Solve step by step.");
  const b = await ops.answerGenerate();
  return await ops.scEnsemble([a, b, a]);
}
</workflow>`,
    expected: { kind: "invalid", reason: /unknown operator `answerGenerate` for math workflows/ },
  },
  {
    name: "too similar: the template unchanged",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const solution = await ops.custom("Can you solve this problem by breaking it down into detailed steps and explaining the reasoning behind each step?");
  return solution;
}
</workflow>`,
    expected: { kind: "invalid", reason: /too similar to the template \(1\.00/ },
  },
  {
    name: "too similar: the template with a new instruction",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const solution = await ops.custom("Solve it step by step.");
  return solution;
}
</workflow>`,
    expected: { kind: "invalid", reason: /too similar to the template \(0\.9/ },
  },
  {
    name: "problem-specific: quotes the question (the corpus's gsm8k problem)",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Carol and Jennifer are sisters from Los Angeles: add their signatures step by step.");
  const b = await ops.review(a);
  return await ops.scEnsemble([a, b]);
}
</workflow>`,
    expected: { kind: "invalid", reason: /problem-specific text: "carol and jennifer are sisters"/ },
  },
  {
    name: "hostile: reads the environment",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Solve step by step.");
  await ops.review(a);
  await ops.review(a);
  return process.env.SPOGW_CORPUS_CANARY;
}
</workflow>`,
    expected: { kind: "invalid", reason: /`process` is not allowed/ },
  },
  {
    name: "hostile: climbs to the Function constructor",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Solve step by step.");
  const b = await ops.review(a);
  const c = await ops.review(b);
  return a.constructor.constructor("return process")().env.SPOGW_CORPUS_CANARY;
}
</workflow>`,
    expected: { kind: "invalid", reason: /`constructor` is not allowed/ },
  },
  {
    name: "hostile but valid-looking: recursion that floods operator calls",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const again = async (text) => again(await ops.review(text));
  const first = await ops.custom("Solve step by step.");
  return await again(first);
}
</workflow>`,
    expected: { kind: "failed", error: /more than 12 operator calls/ },
  },
  {
    name: "hostile but valid-looking: a for-of loop over an array it keeps growing",
    benchmark: "gsm8k",
    completion: `async function workflow(ops) {
  const items = [await ops.custom("Solve step by step.")];
  for (const item of items) { items.push(item + "!"); }
  const b = await ops.review(items[0]);
  return await ops.scEnsemble([items[0], b]);
}
</workflow>`,
    expected: { kind: "failed", error: /computed for more than|memory limit/ },
  },
  {
    name: "code: quick draft repaired by the public tests",
    benchmark: "humaneval",
    completion: `async function workflow(ops) {
  const draft = await ops.codeGenerate("Write the function quickly.");
  return await ops.test(draft);
}
</workflow>`,
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "code: three careful attempts and an ensemble",
    benchmark: "humaneval",
    completion: `async function workflow(ops) {
  const candidates = [];
  for (let i = 0; i < 3; i++) {
    candidates.push(await ops.codeGenerate("Consider edge cases, then write the complete function."));
  }
  return await ops.scEnsemble(candidates);
}
</workflow>`,
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "code: quick drafts, never tested",
    benchmark: "humaneval",
    completion: `async function workflow(ops) {
  const a = await ops.codeGenerate("Write the function quickly.");
  const b = await ops.codeGenerate("Write the shortest function.");
  return await ops.scEnsemble([a, b]);
}
</workflow>`,
    expected: { kind: "scored", score: 0 },
  },
  {
    name: "code: returns its own Python that reads the environment instead of a solution",
    benchmark: "humaneval",
    completion: `async function workflow(ops) {
  const a = await ops.codeGenerate("Consider edge cases, then write the complete function.");
  const b = await ops.test(a);
  return "import os\\nprint(os.environ)\\n" + "def " + "x(): pass";
}
</workflow>`,
    // It returns text written into the workflow, not anything an operator computed.
    expected: { kind: "invalid", reason: /does not depend on any operator result/ },
  },
  {
    name: "qa: generated answer, reviewed, ensembled with step-by-step attempts",
    benchmark: "hotpotqa",
    completion: `async function workflow(ops) {
  const first = await ops.answerGenerate();
  const reviewed = await ops.review(first);
  const more = [];
  for (let i = 0; i < 2; i++) {
    more.push(await ops.custom("Answer step by step with a short final answer."));
  }
  return await ops.scEnsemble([reviewed, ...more]);
}
</workflow>`,
    expected: { kind: "scored", score: 1 },
  },
  {
    name: "qa: returns the verbose reasoning of a guess",
    benchmark: "hotpotqa",
    completion: `async function workflow(ops) {
  const a = await ops.custom("Guess.");
  const b = await ops.custom("Guess again.");
  const c = await ops.custom("One more guess.");
  return await ops.scEnsemble([a, b, c]);
}
</workflow>`,
    expected: { kind: "scored", score: 0 },
  },
];
