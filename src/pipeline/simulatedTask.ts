// The demo's *simulated* task family: nothing is downloaded and no LLM executes anything. A workflow is
// a sequence of operator calls, and the simulated executor draws each call's success from the
// probability model below, so a workflow's structure changes its odds and there is something to learn.
//
// Workflow syntax (a code-book over token ids, so every token sequence is a valid workflow and even an
// untrained tiny model needs no grammar): each generated token is one step, chosen by token id mod 8:
//   0      review      checks the current answer: a wrong one is fixed with probability REVIEW_FIX,
//                      a right one broken with probability REVIEW_BREAK
//   1      scEnsemble  two fresh drafts plus the current answer, majority vote
//   2..7   custom      the first drafts the answer; later ones only restate it (no change in correctness)
// The end-of-generation token ends the workflow; a workflow without steps is a single custom call.
// Any step that comes first drafts the answer before doing its own work.
//
// Probability model: query q has difficulty d_q in [0.4, 0.9] (evenly spread over the queries); a draft
// is correct with probability 1 - d_q. So reviews and ensembles raise the odds and plain calls do not.
// Each execution run draws from its own stream seeded by (seed, query, workflow, run), so scores are
// reproducible and a rerun gives the same ones. A run scores 1 when the final answer is correct, else 0.
import { SeededRandom } from "../gguf/seededRandom.js";
import type { ExecutionResult, ParsedCompletion, TaskQuery, WorkflowTask } from "./task.js";

export const SIMULATED_NOTICE = "SIMULATED task family: scores come from a probability model, not from an LLM executor";

export const REVIEW_FIX = 0.5;
export const REVIEW_BREAK = 0.05;
const OPERATOR_BY_RESIDUE = ["review", "scEnsemble", "custom", "custom", "custom", "custom", "custom", "custom"] as const;
type SimulatedOperator = (typeof OPERATOR_BY_RESIDUE)[number];

export interface SimulatedTaskOptions {
  queries: number;
  seed: number;
  /** Milliseconds each execution takes (default 0), like a real executor's latency. */
  latencyMs?: number;
}

export function simulatedDifficulty(position: number, queries: number): number {
  return queries === 1 ? 0.65 : 0.4 + (0.5 * position) / (queries - 1);
}

/** Steps of a generated token sequence (without its end-of-generation token). */
export function decodeSimulatedWorkflow(tokens: readonly number[]): SimulatedOperator[] {
  const steps = tokens.map((token) => OPERATOR_BY_RESIDUE[token % 8]!);
  return steps.length > 0 ? steps : ["custom"];
}

/** The workflow as the JavaScript it stands for (what the demo stores and shows). */
export function renderSimulatedWorkflow(steps: readonly SimulatedOperator[]): string {
  const body = steps.map((step) =>
    step === "custom" ? `  answer = answer || await ops.custom("Solve it step by step.");`
    : step === "review" ? `  answer = await ops.review(answer);`
    : `  answer = await ops.scEnsemble([answer, await ops.custom("Solve it."), await ops.custom("Solve it.")]);`,
  );
  return `async function workflow(ops) {\n  let answer = "";\n${body.join("\n")}\n  return answer;\n}`;
}

/** The steps of a rendered workflow: one operator line per step (an ensemble line also names custom). */
export function parseSimulatedWorkflow(workflow: string): SimulatedOperator[] {
  return workflow.split("\n").flatMap((line): SimulatedOperator[] =>
    line.includes("ops.scEnsemble(") ? ["scEnsemble"] : line.includes("ops.review(") ? ["review"] : line.includes("ops.custom(") ? ["custom"] : [],
  );
}

/** One simulated execution: true when the final answer is correct. */
export function simulateRun(steps: readonly string[], difficulty: number, random: SeededRandom): boolean {
  const draft = () => random.next() >= difficulty;
  let correct = draft();
  for (const step of steps) {
    if (step === "review") correct = correct ? random.next() >= REVIEW_BREAK : random.next() < REVIEW_FIX;
    else if (step === "scEnsemble") correct = [correct, draft(), draft()].filter(Boolean).length >= 2;
  }
  return correct;
}

export function createSimulatedTask(options: SimulatedTaskOptions): WorkflowTask {
  const queries: TaskQuery[] = Array.from({ length: options.queries }, (_, i) => ({
    id: `sim-${String(i).padStart(3, "0")}`,
    prompt: `Simulated task ${i}: write a workflow of operator calls.\n`,
  }));
  const difficulty = new Map(queries.map((q, i) => [q.id, simulatedDifficulty(i, queries.length)]));
  return {
    name: "simulated",
    simulated: true,
    queries,
    stop: [],
    parse(completion): ParsedCompletion {
      const tokens = completion.finishReason === "eog" ? completion.tokens.slice(0, -1) : completion.tokens;
      return { ok: true, workflow: renderSimulatedWorkflow(decodeSimulatedWorkflow(tokens)) };
    },
    async execute(workflow: string, query: TaskQuery, run: number): Promise<ExecutionResult> {
      if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
      const steps = parseSimulatedWorkflow(workflow);
      const random = new SeededRandom(options.seed, `${query.id}\n${workflow}\n${run}`);
      return { score: simulateRun(steps, difficulty.get(query.id) ?? 0.5, random) ? 1 : 0, error: null };
    },
    async close() {},
  };
}
