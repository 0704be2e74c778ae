// runWorkflow on ordinary workflows: results, operator arguments, concurrency of operator calls,
// determinism, and each limit producing its own stated reason.
import { describe, expect, it } from "vitest";
import { runWorkflow, type WorkflowProblem } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const mathProblem: WorkflowProblem = { id: "toy-1", family: "math", input: "What is 6 times 7?" };

describe("runWorkflow", () => {
  it("returns the workflow's string and sends the operator prompt with the problem bound in", async () => {
    const executor = new ScriptedExecutor({ answer: (p) => (p.includes("6 times 7") && p.includes("Think carefully") ? "forty-two" : "wrong") });
    const code = `async function workflow(ops) {
      const a = await ops.custom("Think carefully.");
      return "final: " + a.toUpperCase();
    }`;
    const result = await runWorkflow(code, mathProblem, { executor });
    expect(result).toMatchObject({ output: "final: FORTY-TWO", error: null, calls: 1, executorCalls: 1 });
  });

  it("runs Promise.all operator calls concurrently and scEnsemble returns the chosen solution", async () => {
    const executor = new ScriptedExecutor({
      delayMs: 100,
      answer: (p, req) => (p.includes("<solution_letter>") ? "<solution_letter>C</solution_letter>" : `sample ${req.seed ?? 0}`),
    });
    const code = `async function workflow(ops) {
      const xs = await Promise.all([ops.custom("Solve."), ops.custom("Solve."), ops.custom("Solve.")]);
      return await ops.scEnsemble(xs);
    }`;
    const result = await runWorkflow(code, mathProblem, { executor });
    expect(result.error).toBeNull();
    // Identical prompts within a run are distinct samples: seeds 0 (default), 1 and 2.
    expect(result.output).toBe("sample 2");
    expect(executor.peakInFlight).toBe(3); // all three calls were in flight at once
    expect(executor.requests.slice(0, 3).map((r) => r.temperature)).toEqual([undefined, 0.7, 0.7]);
  });

  it("is deterministic: Math.random is seeded per problem", async () => {
    const executor = new ScriptedExecutor();
    const code = `async function workflow(ops) { await ops.custom("x"); return String(Math.random()); }`;
    const a = await runWorkflow(code, mathProblem, { executor });
    const b = await runWorkflow(code, mathProblem, { executor });
    const c = await runWorkflow(code, { ...mathProblem, id: "other" }, { executor });
    expect(a.output).toBe(b.output);
    expect(a.output).not.toBe(c.output);
  });

  it("applies the default of an optional argument and rejects arguments of the wrong kind", async () => {
    const executor = new ScriptedExecutor();
    const wrongKind = await runWorkflow(`async function workflow(ops) { return await ops.review(42); }`, mathProblem, { executor });
    expect(wrongKind.output).toBeNull();
    expect(wrongKind.error).toMatch(/ops\.review: `solution` must be a string, got number/);
    const notArray = await runWorkflow(`async function workflow(ops) { return await ops.scEnsemble("a"); }`, mathProblem, { executor });
    expect(notArray.error).toMatch(/must be an array of strings/);
  });

  it("records an operator failure (executor error) as the workflow's error unless the workflow catches it", async () => {
    const executor = new ScriptedExecutor({ answer: () => { throw new Error("HTTP 503 after 3 retries"); } });
    const uncaught = await runWorkflow(`async function workflow(ops) { return await ops.custom("a"); }`, mathProblem, { executor });
    expect(uncaught.error).toMatch(/ops\.custom failed: HTTP 503 after 3 retries/);
    const caught = await runWorkflow(
      `async function workflow(ops) { try { return await ops.custom("a"); } catch (e) { return "fallback"; } }`,
      mathProblem,
      { executor },
    );
    expect(caught).toMatchObject({ output: "fallback", error: null });
  });

  it("stops at the wall-clock deadline while an operator call is in flight, and aborts that call", async () => {
    const executor = new ScriptedExecutor({ delayMs: 5_000 });
    const result = await runWorkflow(`async function workflow(ops) { return await ops.custom("slow"); }`, mathProblem, { executor, limits: { wallMs: 300 } });
    expect(result.error).toBe("deadline of 300 ms exceeded");
    expect(executor.inFlight).toBe(0); // the aborted call has unwound
  });

  it("rejects non-string results and oversized outputs", async () => {
    const executor = new ScriptedExecutor();
    const obj = await runWorkflow(`async function workflow(ops) { await ops.custom("a"); return {a: 1}; }`, mathProblem, { executor });
    expect(obj.error).toBe("the workflow returned object, not a string");
    const num = await runWorkflow(`async function workflow(ops) { await ops.custom("a"); return 7; }`, mathProblem, { executor });
    expect(num.output).toBe("7");
    const big = await runWorkflow(`async function workflow(ops) { return "x".repeat(2000); }`, mathProblem, { executor, limits: { maxOutputChars: 1000 } });
    expect(big.error).toBe("output of 2000 characters exceeds the limit of 1000");
  });

  it("shares nothing between runs: each run gets a fresh engine, also when its worker thread is reused", async () => {
    const executor = new ScriptedExecutor();
    const writer = `async function workflow(ops) { globalThis.left = "from run 1"; Math.max = () => 99; Array.prototype.join = () => "x"; await ops.custom("a"); return "wrote"; }`;
    const reader = `async function workflow(ops) { await ops.custom("b"); return typeof globalThis.left + " " + Math.max(1, 2) + " " + [1, 2].join("-"); }`;
    for (let i = 0; i < 3; i++) {
      expect((await runWorkflow(writer, mathProblem, { executor })).output).toBe("wrote");
      expect((await runWorkflow(reader, mathProblem, { executor })).output).toBe("undefined 2 1-2");
    }
  });

  it("keeps working after runs that were cut off at their deadline", async () => {
    const executor = new ScriptedExecutor();
    const stuck = `async function workflow(ops) { const a = []; for (;;) a.push("x".repeat(1 << 20)); }`;
    const results = await Promise.all([1, 2, 3].map(() => runWorkflow(stuck, mathProblem, { executor, limits: { wallMs: 500, maxComputeMs: 10_000 } })));
    for (const r of results) expect(r.error).toMatch(/deadline of 500 ms exceeded|memory limit/);
    const ok = await runWorkflow(`async function workflow(ops) { return await ops.custom("x"); }`, mathProblem, { executor });
    expect(ok).toMatchObject({ output: "The answer is 42.", error: null });
  });

  it("drops answers that arrive after their run ended, even when the worker already runs the next workflow", async () => {
    // Ignores cancellation (as a local model mid-generation does): the first run's answers do arrive late.
    const executor = new ScriptedExecutor({ answer: (p) => `answer to ${p.split("\n")[0]}` });
    const slowComplete = executor.complete.bind(executor);
    executor.complete = async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return slowComplete(request);
    };
    const abandons = `async function workflow(ops) { ops.custom("first run"); ops.custom("first run again"); throw new Error("left early"); }`;
    const early = await runWorkflow(abandons, mathProblem, { executor });
    expect(early.error).toMatch(/left early/);
    const next = await runWorkflow(`async function workflow(ops) { return await ops.custom("second run"); }`, mathProblem, { executor });
    expect(next).toMatchObject({ output: "answer to second run", error: null, calls: 1 });
    expect(executor.requests.map((r) => r.messages[0]!.content.split("\n")[0])).toEqual(["first run", "first run again", "second run"]);
  });

  it("refuses nonsense limits before running anything", () => {
    const executor = new ScriptedExecutor();
    const code = `async function workflow(ops) { return "x"; }`;
    expect(() => runWorkflow(code, mathProblem, { executor, limits: { memoryMb: 0 } })).toThrow(/memoryMb must be a positive number, got 0/);
    expect(() => runWorkflow(code, mathProblem, { executor, limits: { wallMs: Number.NaN } })).toThrow(/wallMs must be a positive number/);
    expect(executor.requests).toHaveLength(0);
  });
});
