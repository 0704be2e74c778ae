// When a workflow run stops, everything it started stops with it: the Python programs its operators
// started (seen with ps), the operator calls (none reach the executor afterwards), and a guest stuck
// inside one builtin is ended by the host at the compute cap rather than by the wall-clock deadline. Each test asserts why the run stopped, never how long it took.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { createPythonSandbox, runWorkflow, type PythonRunResult, type PythonSandbox, type WorkflowProblem } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Processes whose command line holds `marker`, as ps lists them. */
function psWith(marker: string): string[] {
  return execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).split("\n").filter((line) => line.includes(marker));
}

/**
 * Every process ps shows holding `marker` over a few seconds of sampling. A program that was not killed
 * keeps running for its whole time limit (30 s here), so it is seen; one that was killed or never
 * started is not.
 */
async function seenWith(marker: string, samples = 30): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < samples; i++) {
    for (const line of psWith(marker)) seen.add(line.trim());
    await sleep(100);
  }
  return [...seen];
}

let sandbox: PythonSandbox;
beforeAll(async () => {
  sandbox = await createPythonSandbox({ log: () => {}, concurrency: 2 });
});

describe("a run that stops takes everything it started with it", () => {
  it("Python programs started by ops.test are killed when the workflow returns, and queued ones never start", async () => {
    const marker = `endless-${randomBytes(8).toString("hex")}`;
    // The solution re-executes Python with the marker in its arguments, so ps can find every copy.
    const endless = `import os, sys\\nos.execv(sys.executable, [sys.executable, '-c', 'while True: pass', '${marker}'])\\ndef f(x):\\n    return x\\n`;
    const code = `async function workflow(ops) {
      for (let i = 0; i < 6; i++) { ops.test("${endless}"); }
      return "returned at once";
    }`;
    const problem: WorkflowProblem = { id: "endless", family: "code", input: "def f(x):", entryPoint: "f", publicTests: ["assert candidate(1) == 1"], prelude: "" };
    const runs: Array<Promise<PythonRunResult>> = [];
    const runPython = (program: string, limits?: Parameters<PythonSandbox["run"]>[1], channels?: Parameters<PythonSandbox["run"]>[2]) => {
      const run = sandbox.run(program, limits, channels);
      runs.push(run);
      return run;
    };
    const result = await runWorkflow(code, problem, { executor: new ScriptedExecutor(), runPython, pythonTimeoutMs: 30_000 });
    expect(result).toMatchObject({ output: "returned at once", error: null, calls: 6 });
    expect(await seenWith(marker)).toEqual([]);
    // Two were running (the pool has two slots) and were killed; four were queued and never started.
    const statuses = (await Promise.all(runs)).map((r) => r.status);
    expect(statuses).toEqual(["cancelled", "cancelled", "cancelled", "cancelled", "cancelled", "cancelled"]);
    // The pool is free again at once for other scoring.
    expect((await sandbox.run("print('next')")).stdout).toBe("next\n");
  });

  it("no operator call reaches the executor after the run stopped, not even from getters read for its error", async () => {
    const executor = new ScriptedExecutor();
    const code = `async function workflow(ops) {
      throw { get message() { for (let i = 0; i < 20; i++) { ops.custom("late " + i); } return "boom"; } };
    }`;
    const problem: WorkflowProblem = { id: "late", family: "math", input: "What is 1 + 1?" };
    const result = await runWorkflow(code, problem, { executor });
    expect(result.output).toBeNull();
    expect(result.error).not.toBeNull();
    expect(result.calls).toBe(0);
    expect(executor.requests).toEqual([]);
  });

  it("after the call cap stops a run, the getters of its error make no calls either", async () => {
    const executor = new ScriptedExecutor();
    const code = `async function workflow(ops) {
      for (let i = 0; i < 3; i++) { await ops.custom("step " + i); }
      throw { get message() { for (let i = 0; i < 20; i++) { ops.custom("late " + i); } return "boom"; } };
    }`;
    const problem: WorkflowProblem = { id: "capped", family: "math", input: "What is 1 + 1?" };
    const result = await runWorkflow(code, problem, { executor, limits: { maxCalls: 3 } });
    expect(result.output).toBeNull();
    expect(executor.requests.map((r) => r.messages[0]!.content).filter((p) => p.includes("late"))).toEqual([]);
    expect(executor.requests).toHaveLength(3);
  });
});

describe("the compute cap holds inside builtins", () => {
  // QuickJS checks for interrupts inside neither String.prototype.indexOf nor the matching of a long regular
  // expression literal: each search below compares some 2^34 characters, seconds of CPU on any machine.
  // Before the host watched, both ran to the end: the quadratic indexOf with 2^33 took 14 s of wall time at
  // load 19 and the run then succeeded; a 2^16-character literal matched against 2^22 characters, under a
  // 500 ms cap, was stopped by QuickJS's own check only after it finished, 8 s in at load 15. (Backtracking
  // patterns such as /^(a+)+$/ are checked by QuickJS itself, if late: which of the two stops those first
  // depends on timing, so they are not a test of the host.)
  it.each([
    { builtin: "String.prototype.indexOf", expression: `"a".repeat(2 ** 18).indexOf("a".repeat(2 ** 17) + "b")` },
    { builtin: "a regular expression", expression: `new RegExp("a".repeat(2 ** 17) + "b").test("a".repeat(2 ** 23))` },
  ])("a search inside $builtin is stopped by the host at the compute cap, not by the wall-clock deadline", async ({ expression }) => {
    const code = `async function workflow(ops) {
      const a = await ops.custom("Solve.");
      const found = ${expression};
      return a + String(found);
    }`;
    const problem: WorkflowProblem = { id: "search", family: "math", input: "What is 1 + 1?" };
    const result = await runWorkflow(code, problem, { executor: new ScriptedExecutor(), limits: { maxComputeMs: 500, wallMs: 120_000 } });
    expect(result.output).toBeNull();
    expect(result.error).toMatch(/computed for more than 500 ms without yielding \(stopped by the host, outside the engine\)/);
    expect(result.error).not.toMatch(/deadline/);
  });

  it("a workflow that waits on operators longer than the cap is not stopped (waiting is not computing)", async () => {
    const code = `async function workflow(ops) {
      const a = await ops.custom("Solve.");
      const b = await ops.review(a);
      return a + b;
    }`;
    const problem: WorkflowProblem = { id: "slow-executor", family: "math", input: "What is 1 + 1?" };
    const result = await runWorkflow(code, problem, { executor: new ScriptedExecutor({ delayMs: 1500 }), limits: { maxComputeMs: 200 } });
    expect(result).toMatchObject({ error: null, calls: 2 });
  });
});
