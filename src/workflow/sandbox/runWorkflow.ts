// Runs one workflow program in the sandbox: a fresh QuickJS engine (WebAssembly) inside a worker
// thread with an empty environment (workers are pooled; engines never are). The engine has no host
// objects at all; the operators are its only way out, and they run here, on the host thread. The
// worker is terminated at the deadline, or when the host's ComputeWatch sees the guest compute past its
// cap, so a workflow spinning inside the engine can neither outlive its limits nor stall other workflows.
// A run ends with an output string or with the reason it failed; it never throws for anything the
// workflow does.
import { operatorsFor, type OperatorName } from "../operators/catalog.js";
import { OperatorHost, type OperatorServices } from "../operators/hostOperators.js";
import type { WorkflowProblem } from "../problem.js";
import { ComputeWatch } from "./computeWatch.js";
import { guestPrelude, seedFromText } from "./guestPrelude.js";
import { acquireWorker, releaseWorker } from "./workerPool.js";
import type { HostToWorker, RunRequest, WorkerToHost } from "./workerProtocol.js";

export interface WorkflowLimits {
  /** Wall-clock deadline for the whole run, operator calls included. */
  wallMs?: number;
  /** Heap limit of the JS engine. */
  memoryMb?: number;
  /** Operator calls allowed in one run; the next one ends the run. */
  maxCalls?: number;
  /** Longest output kept; a longer one fails the run. */
  maxOutputChars?: number;
  /** Longest string argument accepted by an operator. */
  maxArgumentChars?: number;
  /** Largest array accepted by an operator. */
  maxArrayLength?: number;
  /** Longest stretch of guest computation without yielding to an operator (workflows only orchestrate). */
  maxComputeMs?: number;
}

export const DEFAULT_LIMITS: Readonly<Required<WorkflowLimits>> = {
  wallMs: 120_000,
  memoryMb: 64,
  maxCalls: 20,
  maxOutputChars: 100_000,
  maxArgumentChars: 50_000,
  maxArrayLength: 16,
  maxComputeMs: 1_000,
};

export interface RunWorkflowOptions extends OperatorServices {
  limits?: WorkflowLimits;
}

export interface WorkflowRunResult {
  /** The workflow's answer, or null when it failed. */
  output: string | null;
  /** Why it failed, or null. */
  error: string | null;
  /** Operator calls the workflow made. */
  calls: number;
  /** Requests the operators sent to the executor (an operator may send several). */
  executorCalls: number;
  /** Prompt plus completion tokens of the executor's answers. */
  executorTokens: number;
  durationMs: number;
}

let nextRunId = 0;

/** Fills in defaults; a limit that is not a positive number is the caller's mistake and throws. */
export function resolveLimits(limits: WorkflowLimits = {}): Required<WorkflowLimits> {
  const resolved = { ...DEFAULT_LIMITS, ...stripUndefined(limits) };
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new RangeError(`workflow limit ${name} must be a positive number, got ${value}`);
  }
  return resolved;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Never rejects for anything the workflow does; throws only for invalid limits. */
export function runWorkflow(code: string, problem: WorkflowProblem, options: RunWorkflowOptions): Promise<WorkflowRunResult> {
  const limits = resolveLimits(options.limits);
  const startedAt = Date.now();
  const abort = new AbortController();
  const host = new OperatorHost(problem, options, abort.signal);
  const request: RunRequest = {
    code,
    prelude: guestPrelude(seedFromText(problem.id)),
    operators: operatorsFor(problem.family).map(({ name, parameters }) => ({ name, parameters })),
    limits,
  };
  const runId = nextRunId++;

  return new Promise((resolve) => {
    let calls = 0;
    let finished = false;
    const worker = acquireWorker();
    const timer = setTimeout(() => finish(null, `deadline of ${limits.wallMs} ms exceeded`, false), limits.wallMs);
    const watch = new ComputeWatch(limits.maxComputeMs, () => {
      finish(null, `the workflow computed for more than ${limits.maxComputeMs} ms without yielding (stopped by the host, outside the engine)`, false);
    });

    /** `reusable`: the worker reported the run's end itself, so no guest code is left running. */
    function finish(output: string | null, error: string | null, reusable: boolean): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      watch.stop();
      abort.abort(); // operator calls still in flight are cancelled, Python programs they started killed
      worker.off("error", onError);
      worker.off("exit", onExit);
      releaseWorker(worker, reusable);
      resolve({ output, error, calls, executorCalls: host.executorCalls, executorTokens: host.executorTokens, durationMs: Date.now() - startedAt });
    }

    function reply(message: HostToWorker): void {
      if (finished) return;
      watch.answerPosted();
      worker.postMessage(message);
    }

    const onError = (error: Error) => finish(null, `sandbox failure: ${errorMessage(error)}`, false);
    const onExit = (exitCode: number) => finish(null, `sandbox worker exited (code ${exitCode}) before the workflow finished`, false);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.on("message", (message: WorkerToHost) => {
      if (message.runId !== runId) return;
      if (message.type === "ready") return watch.ready(message.threadId);
      if (message.type === "idle") return watch.idle(message.answers);
      if (message.type === "done") {
        calls = Math.max(calls, message.calls);
        return finish(message.output, message.error, true);
      }
      // The worker enforces the cap and the argument kinds; checking again here means a compromised
      // engine still cannot make the host call the executor more often, or with anything else.
      if (++calls > limits.maxCalls) return finish(null, `more than ${limits.maxCalls} operator calls`, false);
      if (!wellFormedCall(message, request, limits)) return finish(null, "sandbox protocol violation: malformed operator call", false);
      host.call(message.name as OperatorName, message.args).then(
        (text) => reply({ type: "result", runId, id: message.id, text }),
        (error: unknown) => reply({ type: "failure", runId, id: message.id, message: `ops.${message.name} failed: ${errorMessage(error)}` }),
      );
    });
    worker.postMessage({ type: "start", runId, run: request } satisfies HostToWorker);
  });
}

/** The operator exists for this run and its arguments have the kinds and sizes the worker promised. */
function wellFormedCall(message: { name: string; args: unknown }, request: RunRequest, limits: Required<WorkflowLimits>): boolean {
  const op = request.operators.find((o) => o.name === message.name);
  const args: unknown = message.args;
  if (!op || !Array.isArray(args) || args.length !== op.parameters.length) return false;
  const isText = (v: unknown) => typeof v === "string" && v.length <= limits.maxArgumentChars;
  return op.parameters.every((p, i) => {
    const arg: unknown = args[i];
    return p.kind === "string" ? isText(arg) : Array.isArray(arg) && arg.length <= limits.maxArrayLength && arg.every(isText);
  });
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 500 ? `${text.slice(0, 500)}...` : text;
}
