// Two holes the attack pass found in the validator: workflows that return an answer written into
// them instead of computing it (accepted before, and in RL such a workflow is reinforced whenever its
// literal happens to score), and computed property keys that reach the Function constructor.
import { describe, expect, it } from "vitest";
import { runWorkflow, validateWorkflow, type WorkflowProblem } from "../../src/index.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

const body = (lines: string) => `async function workflow(ops) {\n${lines}\n}`;
const threeCalls = "const a = await ops.custom('Solve step by step.');\nconst b = await ops.review(a);\nconst c = await ops.review(b);\n";
const reasonFor = (code: string, family: "math" | "code" = "math") => validateWorkflow(code, family, { maxTemplateSimilarity: 1.01 }).reason;

describe("a workflow must compute its answer", () => {
  const rejected = /returns a value that does not depend on any operator result/;

  it.each([
    ["a string literal", "return 'The answer is 42.';"],
    ["code written into the workflow", "return 'def add(a, b):\\n    return a + b\\n';"],
    ["a template literal of literals", "return `The answer is ${6 * 7}.`;"],
    ["a literal on one branch", "if (c.length > 3) return 'forty-two';\nreturn c;"],
    ["a literal chosen by an operator result", "return c.includes('yes') ? 'A' : 'B';"],
    ["a variable that only ever holds literals", "let answer = 'x';\nfor (let i = 0; i < 2; i++) { answer = answer + '!'; }\nreturn answer;"],
  ])("rejects %s, with the reason", (_, tail) => {
    expect(reasonFor(body(threeCalls + tail))).toMatch(rejected);
  });

  it.each([
    ["an operator result", "return c;"],
    ["an awaited call directly", "return await ops.review(c);"],
    ["a method of a result", "return c.trim().slice(0, 100);"],
    ["results pushed into an array", "const all = [];\nall.push(a);\nall.push(c);\nreturn all.join('\\n');"],
    ["a for-of over results", "let best = '';\nfor (const x of [a, b, c]) { if (x.length > best.length) best = x; }\nreturn best;"],
    ["either of two results", "return c.length > 0 ? c : a;"],
    ["a template around a result", "return `Final: ${c}`;"],
    ["a destructured Promise.all", "const [x, y] = await Promise.all([ops.custom('p'), ops.custom('q')]);\nreturn x + y;"],
  ])("accepts %s", (_, tail) => {
    expect(reasonFor(body(threeCalls + tail))).toBeNull();
  });

  it("every built-in baseline and template computes its answer", async () => {
    const { BASELINE_NAMES, baselineWorkflow } = await import("../../src/index.js");
    for (const family of ["math", "code", "qa"] as const) {
      for (const name of BASELINE_NAMES) {
        const reason = validateWorkflow(baselineWorkflow(name, family), family, { minCalls: 1, maxCalls: 100, maxLoopIterations: 10, maxTemplateSimilarity: 1.01 }).reason;
        expect(reason, `${name} (${family})`).toBeNull();
      }
    }
  });
});

describe("computed property keys cannot reach the Function constructor", () => {
  const bypass = "const f = Math.max[String.fromCharCode(99, 111, 110, 115, 116, 114, 117, 99, 116, 111, 114)]('while (true) {}');\nf();\n";

  it("the reported bypass is rejected before it runs", () => {
    expect(reasonFor(body(threeCalls + bypass + "return c;"))).toMatch(/computed property key must be a number, a string literal, or the counter/);
  });

  it.each([
    ["a key built from strings", "const k = 'constr' + 'uctor';\nconst f = Math.max[k];\nreturn c + f;"],
    ["a key from a template literal", "const f = Math.max[`constructor`];\nreturn c + f;"],
    ["a banned literal key", "const f = Math.max['constructor'];\nreturn c + f;"],
    ["destructuring with a computed key", "const k = 'constructor';\nconst { [k]: F } = Math.max;\nreturn c + F;"],
    ["a loop counter that is reassigned", "const xs = [a, b, c];\nlet pick = '';\nfor (let i = 0; i < 3; i++) { i = 'constructor'; pick = xs[i]; }\nreturn pick + c;"],
    ["an optional computed access", "const k = 'constructor';\nconst f = Math.max?.[k];\nreturn c + f;"],
  ])("rejects %s", (_, tail) => {
    expect(reasonFor(body(threeCalls + tail))).toMatch(/computed property key|property `constructor` is not allowed|banned/);
  });

  it.each([
    ["a number index", "const xs = [a, b, c];\nreturn xs[0] + xs[2];"],
    ["a string literal key", "const o = { answer: c };\nreturn o['answer'];"],
    ["a loop counter", "const xs = [a, b, c];\nlet all = '';\nfor (let i = 0; i < 3; i++) { all = all + xs[i]; }\nreturn all;"],
  ])("accepts %s", (_, tail) => {
    expect(reasonFor(body(threeCalls + tail))).toBeNull();
  });

  it("the runtime limits stay as the second line: the bypass, run without validation, is stopped", async () => {
    const problem: WorkflowProblem = { id: "bypass", family: "math", input: "What is 1 + 1?" };
    const result = await runWorkflow(body(threeCalls + bypass + "return c;"), problem, { executor: new ScriptedExecutor(), limits: { maxComputeMs: 300, wallMs: 20_000 } });
    expect(result.output).toBeNull();
    expect(result.error).toMatch(/computed for more than 300 ms/);
  });
});
