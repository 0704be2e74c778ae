// dryRunWorkflow: the optional last validity check on a toy problem of the family.
import { describe, expect, it } from "vitest";
import { baselineWorkflow, dryRunWorkflow, ToyExecutor } from "../../src/index.js";

describe("dryRunWorkflow", () => {
  it("accepts workflows that run to an answer, for every family (code through the public test)", async () => {
    const code = `async function workflow(ops) {
      const drafts = [];
      for (let i = 0; i < 2; i++) drafts.push(await ops.codeGenerate("Write it carefully."));
      return await ops.test(await ops.scEnsemble(drafts));
    }`;
    const executor = new ToyExecutor();
    expect(await dryRunWorkflow(code, "code", { executor })).toEqual({ ok: true });
    expect(executor.stats().calls).toBe(3); // two drafts and the ensemble; the toy solution passes its test
    expect(await dryRunWorkflow(baselineWorkflow("medprompt", "math"), "math")).toEqual({ ok: true });
    expect(await dryRunWorkflow(baselineWorkflow("self-refine", "qa"), "qa")).toEqual({ ok: true });
  });

  it("rejects a workflow that fails at run time or returns nothing useful, with the reason", async () => {
    const throwsLate = `async function workflow(ops) {
      const a = await ops.custom("Solve.");
      return a.notAFunction();
    }`;
    expect(await dryRunWorkflow(throwsLate, "math")).toEqual({ ok: false, reason: expect.stringMatching(/^dry run failed: the workflow failed: TypeError: not a function/) });
    const empty = `async function workflow(ops) { await ops.custom("Solve."); return ""; }`;
    expect(await dryRunWorkflow(empty, "math")).toEqual({ ok: false, reason: "dry run returned an empty answer" });
    const wrongOperator = `async function workflow(ops) { return await ops.codeGenerate("x"); }`;
    expect(await dryRunWorkflow(wrongOperator, "qa")).toEqual({ ok: false, reason: expect.stringMatching(/not a function/) });
  });
});
