// The demo's *simulated* task family: nothing is downloaded and no LLM executes anything. A workflow is
// a sequence of operator calls, and the simulated executor draws each call's success from the
// probability model below, so a workflow's structure changes its odds and there is something to learn.
//
// Workflow syntax: one operator name per line, at most MAX_SIMULATED_STEPS lines, sampled under the
// GBNF grammar SIMULATED_WORKFLOW_GRAMMAR (grammar-constrained generation: even an untrained tiny model
// writes only valid workflows, and ends with its end-of-generation token once the grammar is complete):
//   review      checks the current answer: a wrong one is fixed with probability REVIEW_FIX,
//               a right one broken with probability REVIEW_BREAK
//   ensemble    two fresh drafts plus the current answer, majority vote (scEnsemble)
//   custom      the first drafts the answer; later ones only restate it (no change in correctness)
// Any step that comes first drafts the answer before doing its own work.
//
// Probability model: query q has difficulty d_q in [0.4, 0.9] (evenly spread over the queries); a draft
// is correct with probability 1 - d_q. So reviews and ensembles raise the odds and plain calls do not.
// Each execution run draws from its own stream seeded by (seed, query, workflow, run), so scores are
// reproducible and a rerun gives the same ones. A run scores 1 when the final answer is correct, else 0.
import { SeededRandom } from "../util/seededRandom.js";
import type { ExecutionResult, ParsedCompletion, TaskQuery, WorkflowTask } from "./task.js";

export const SIMULATED_NOTICE = "SIMULATED task family: scores come from a probability model, not from an LLM executor";

export const REVIEW_FIX = 0.5;
export const REVIEW_BREAK = 0.05;
type SimulatedOperator = "review" | "scEnsemble" | "custom";
const OPERATOR_BY_NAME: Record<string, SimulatedOperator> = { review: "review", ensemble: "scEnsemble", custom: "custom" };
export const MAX_SIMULATED_STEPS = 4;

/** GBNF: one to MAX_SIMULATED_STEPS lines, each an operator name. */
export const SIMULATED_WORKFLOW_GRAMMAR =
  `root ::= step${" step?".repeat(MAX_SIMULATED_STEPS - 1)}\n` + `step ::= ("custom" | "review" | "ensemble") "\\n"\n`;

export interface SimulatedTaskOptions {
  queries: number;
  seed: number;
  /** Milliseconds each execution takes (default 0), like a real executor's latency. */
  latencyMs?: number;
}

export function simulatedDifficulty(position: number, queries: number): number {
  return queries === 1 ? 0.65 : 0.4 + (0.5 * position) / (queries - 1);
}

/**
 * Steps of a generated workflow text: its complete lines, each an operator name. Text outside the
 * syntax (possible only without the grammar) makes the workflow invalid, with the reason.
 */
export function decodeSimulatedWorkflow(text: string): { ok: true; steps: SimulatedOperator[] } | { ok: false; reason: string } {
  const lines = text.split("\n");
  lines.pop(); // the text after the last newline: empty for a complete workflow, a cut-off step otherwise
  if (lines.length === 0) return { ok: false, reason: "no complete step (a workflow is one operator name per line)" };
  if (lines.length > MAX_SIMULATED_STEPS) return { ok: false, reason: `${lines.length} steps (at most ${MAX_SIMULATED_STEPS})` };
  const steps: SimulatedOperator[] = [];
  for (const [i, line] of lines.entries()) {
    const step = OPERATOR_BY_NAME[line];
    if (!step) return { ok: false, reason: `line ${i + 1} "${line.slice(0, 40)}" is not custom, review or ensemble` };
    steps.push(step);
  }
  return { ok: true, steps };
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
    grammar: SIMULATED_WORKFLOW_GRAMMAR,
    parse(completion): ParsedCompletion {
      const decoded = decodeSimulatedWorkflow(completion.text);
      return decoded.ok ? { ok: true, workflow: renderSimulatedWorkflow(decoded.steps) } : decoded;
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
