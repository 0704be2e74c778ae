// The operators whose host side runs Python in the Python sandbox (src/workflow/operators/hostOperators.ts).
import { describe, expect, it } from "vitest";
import { runWorkflow, type WorkflowProblem } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const mathProblem: WorkflowProblem = { id: "toy-1", family: "math", input: "What is 6 times 7?" };

describe("operators that run Python", () => {
  it("programmer runs the executor's program in the Python sandbox and feeds a failure back once", async () => {
    let attempt = 0;
    const executor = new ScriptedExecutor({
      answer: (prompt) => {
        attempt++;
        if (attempt === 1) return "```python\ndef solve():\n    return 6 * undefined_name\n```";
        expect(prompt).toContain("NameError"); // the failure of attempt 1 is in the retry prompt
        return "```python\ndef solve():\n    return 6 * 7\n```";
      },
    });
    const result = await runWorkflow(`async function workflow(ops) { return await ops.programmer(); }`, mathProblem, { executor });
    expect(result.error).toBeNull();
    expect(result.output).toMatch(/the output was: 42$/);
    expect(result).toMatchObject({ calls: 1, executorCalls: 2 });
  });
});
