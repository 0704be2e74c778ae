// Optional last validity check: run a workflow on a toy problem of its family (as ScoreFlow does
// before accepting a generated workflow). Without an executor, a toy executor answers every operator
// with a well-formed reply, so the check costs no model calls and still exercises the control flow,
// the operator arguments and the return value.
import { emptyStats, type CompletionRequest, type CompletionResult, type Executor } from "../executor/types.js";
import type { TaskFamily } from "./family.js";
import type { WorkflowProblem } from "./problem.js";
import { runWorkflow, type WorkflowLimits } from "./sandbox/runWorkflow.js";

export const TOY_PROBLEMS: Readonly<Record<TaskFamily, WorkflowProblem>> = {
  math: { id: "toy-math", family: "math", input: "A is 1 and B is 2. What is A + B?" },
  code: {
    id: "toy-code",
    family: "code",
    input: 'def my_sum(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> my_sum(1, 2)\n    3\n    """\n',
    entryPoint: "my_sum",
    publicTests: ["assert candidate(1, 2) == 3"],
    prelude: "",
  },
  qa: { id: "toy-qa", family: "qa", input: "Question: Anna has three children: Ben, Carl and Dora. How many children does Anna have?" },
};

/** Answers each operator prompt with a reply of the shape that operator expects. */
export class ToyExecutor implements Executor {
  readonly model = "toy";
  private calls = 0;

  async complete(request: CompletionRequest): Promise<CompletionResult> {
    this.calls++;
    const prompt = request.messages.map((m) => m.content).join("\n");
    return { text: toyReply(prompt), finishReason: "stop", usage: { promptTokens: 0, completionTokens: 0 }, model: this.model, cached: false };
  }

  stats() {
    return { ...emptyStats(), calls: this.calls };
  }

  async close(): Promise<void> {}
}

function toyReply(prompt: string): string {
  if (prompt.includes("<solution_letter>")) return "<thought>they agree</thought><solution_letter>A</solution_letter>";
  if (prompt.includes("<revised_solution>")) return "<feedback>correct</feedback><revised_solution>The answer is 3.</revised_solution>";
  if (prompt.includes("<answer>")) return "<thought>count them</thought><answer>3</answer>";
  if (prompt.includes("my_sum")) return "```python\ndef my_sum(a, b):\n    return a + b\n```";
  if (prompt.includes("def solve()")) return "```python\ndef solve():\n    return 1 + 2\n```";
  return "Adding the numbers step by step gives 3. The answer is 3.";
}

export interface DryRunOptions {
  /** Defaults to ToyExecutor. */
  executor?: Executor;
  limits?: WorkflowLimits;
}

export async function dryRunWorkflow(code: string, family: TaskFamily, options: DryRunOptions = {}): Promise<{ ok: true } | { ok: false; reason: string }> {
  const result = await runWorkflow(code, TOY_PROBLEMS[family], {
    executor: options.executor ?? new ToyExecutor(),
    limits: { wallMs: 30_000, ...options.limits },
  });
  if (result.error !== null) return { ok: false, reason: `dry run failed: ${result.error}` };
  if (!result.output?.trim()) return { ok: false, reason: "dry run returned an empty answer" };
  return { ok: true };
}
