// `spogw-native bench workflows`: what the workflow sandbox costs per run. The same three-call
// workflow (two operators in parallel, then an ensemble) with an executor that answers at once, run in
// the sandbox one at a time and N at a time, beside the same steps as a plain host function (the
// unsandboxed reference: our own fixed code, never a generated workflow).
import { availableParallelism } from "node:os";
import type { CommandModule } from "yargs";
import { emptyStats, type CompletionRequest, type CompletionResult, type Executor } from "../../../executor/types.js";
import { runWorkflow, type WorkflowProblem } from "../../../workflow/index.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable } from "../../utils/timing.js";

interface WorkflowsBenchOptions {
  runs: number;
  concurrency: number;
}

const WORKFLOW = `async function workflow(ops) {
  const drafts = await Promise.all([ops.custom("Solve step by step."), ops.custom("Solve another way.")]);
  return await ops.scEnsemble(drafts);
}`;

/** Answers every request at once, so the timings are the sandbox's and the operators' own. */
class InstantExecutor implements Executor {
  readonly model = "instant";
  async complete(request: CompletionRequest): Promise<CompletionResult> {
    const prompt = request.messages[0]?.content ?? "";
    const text = prompt.includes("<solution_letter>") ? "<solution_letter>B</solution_letter>" : "The answer is 7.";
    return { text, finishReason: "stop", usage: { promptTokens: 0, completionTokens: 0 }, model: this.model, cached: false };
  }
  stats() {
    return emptyStats();
  }
  async close(): Promise<void> {}
}

/** The same steps as WORKFLOW, as host code calling the executor directly (no sandbox, no operators). */
async function referenceRun(executor: Executor): Promise<string> {
  const ask = async (content: string) => (await executor.complete({ messages: [{ role: "user", content }] })).text;
  const drafts = await Promise.all([ask("Solve step by step."), ask("Solve another way.")]);
  await ask(`<solution_letter>\nA: ${drafts[0]}\nB: ${drafts[1]}`);
  return drafts[1]!;
}

async function timeRuns(count: number, concurrency: number, run: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await run(next++);
  }));
  return performance.now() - started;
}

export const benchWorkflowsCommand: CommandModule<object, WorkflowsBenchOptions> = {
  command: "workflows",
  describe: "Cost of the workflow sandbox per run, one at a time and N at a time, beside the same steps unsandboxed",
  builder: (y) =>
    y
      .option("runs", { type: "number", default: 40, describe: "workflow runs per mode" })
      .option("concurrency", { type: "number", default: availableParallelism() * 2, describe: "runs at once in the concurrent mode" }),
  handler: async (argv) => {
    for (const [name, value] of [["runs", argv.runs], ["concurrency", argv.concurrency]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number (got ${value})`);
    }
    const executor = new InstantExecutor();
    const problem = (i: number): WorkflowProblem => ({ id: `bench-${i}`, family: "math", input: `What is ${i} + 1?` });
    const sandboxed = async (i: number) => {
      const result = await runWorkflow(WORKFLOW, problem(i), { executor });
      if (result.error !== null) throw new Error(`benchmark workflow failed: ${result.error}`);
    };
    process.stdout.write(`machine: ${describeMachine()}\n`);
    process.stdout.write(`work: ${argv.runs} runs of a 3-call workflow (2 parallel + ensemble) per mode, executor answering at once\n\n`);
    await timeRuns(argv.concurrency, argv.concurrency, sandboxed); // warm-up: worker threads and WebAssembly compiled
    const modes = [
      { label: "sandbox, 1 at a time", wallMs: await timeRuns(argv.runs, 1, sandboxed) },
      { label: `sandbox, ${argv.concurrency} at a time`, wallMs: await timeRuns(argv.runs, argv.concurrency, sandboxed) },
      { label: "unsandboxed reference, 1 at a time", wallMs: await timeRuns(argv.runs, 1, () => referenceRun(executor)) },
    ];
    const rows = [["mode", "runs", "wall s", "ms/run", "runs/s"]];
    for (const m of modes) {
      rows.push([m.label, String(argv.runs), (m.wallMs / 1000).toFixed(2), (m.wallMs / argv.runs).toFixed(2), (argv.runs / (m.wallMs / 1000)).toFixed(1)]);
    }
    process.stdout.write(`${formatTable(rows)}\n`);
    process.stdout.write("\nms/run = wall / runs. Each sandboxed run starts a fresh QuickJS engine; worker threads are reused.\n");
  },
};
