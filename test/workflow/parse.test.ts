// parseWorkflow / validateWorkflow: extraction from completions, the shape, banned constructs,
// operator names and arities, loop bounds, the static call count, and similarity to the template.
import { describe, expect, it } from "vitest";
import { buildGeneratorPrompt, parseWorkflow, templateSimilarity, TEMPLATE_WORKFLOWS, validateWorkflow } from "../../src/index.js";

const goodMath = `async function workflow(ops) {
  const attempts = [];
  for (let i = 0; i < 2; i++) {
    attempts.push(await ops.custom("Work through the problem step by step, then box the final answer."));
  }
  const computed = await ops.programmer(attempts.join("\\n"));
  const best = await ops.scEnsemble([...attempts, computed]);
  return await ops.review(best);
}`;

describe("extracting the program", () => {
  it("takes the code before </workflow> when the prompt ended with the opening tag", () => {
    const r = parseWorkflow(`${goodMath}\n</workflow>\nThis workflow ensembles two attempts.`, "math");
    expect(r).toEqual({ ok: true, code: goodMath });
  });

  it("takes the code inside a ```js fence or after leading prose, and drops trailing prose", () => {
    expect(parseWorkflow("Here you go:\n```javascript\n" + goodMath + "\n```\nDone.", "math")).toEqual({ ok: true, code: goodMath });
    expect(parseWorkflow("Sure! " + goodMath + "\nHope this helps { really }", "math")).toEqual({ ok: true, code: goodMath });
  });

  it("reports a missing function and a cut-off completion", () => {
    expect(parseWorkflow("I cannot write this.", "math")).toEqual({ ok: false, reason: "no `async function workflow` in the completion" });
    const cut = parseWorkflow(goodMath.slice(0, 120), "math");
    expect(cut.ok).toBe(false);
    expect(!cut.ok && cut.reason).toMatch(/not closed|syntax error/);
  });
});

describe("validation", () => {
  const expectRejected = (code: string, reason: RegExp, family: "math" | "code" | "qa" = "math") => {
    const r = parseWorkflow(code, family);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  };
  const body = (lines: string) => `async function workflow(ops) {\n${lines}\n}`;
  const threeCalls = `const a = await ops.custom("Step by step."); const b = await ops.custom("Carefully."); `;

  it("accepts a well-formed workflow and counts loop calls per iteration", () => {
    const v = validateWorkflow(goodMath, "math");
    expect(v).toMatchObject({ ok: true, reason: null, estimatedCalls: 5 });
    expect(v.similarity).toBeLessThan(0.75);
  });

  it("rejects the wrong shape", () => {
    expectRejected("function workflow(ops) { return 'x'; }", /async function workflow\(ops\)/);
    expectRejected("async function workflow(ops, extra) { return 'x'; }", /exactly one parameter, `ops`/);
    expectRejected(body(threeCalls + "await ops.custom('x');"), /never returns a value/);
    // Code around the function is not part of the program that runs.
    expect(parseWorkflow(`globalThis.x = 1;\n${goodMath}\nprocess.exit(1);`, "math")).toEqual({ ok: true, code: goodMath });
  });

  it("rejects syntax errors with the parser's message", () => {
    expectRejected(body("const a = await ops.custom('x'; return a;"), /syntax error: Unexpected token/);
  });

  it.each([
    ["this", "return this.x;", /`this` is not allowed/],
    ["while loops", "while (true) {} return 'x';", /`while` loops/],
    ["new", "return String(new Promise(() => {}));", /`new` is not allowed/],
    ["eval", "return eval('1');", /`eval` is not allowed/],
    ["globalThis", "return globalThis.x;", /`globalThis` is not allowed/],
    ["process", "return process.env.X;", /`process` is not allowed/],
    ["unknown globals", "return fetch('http://127.0.0.1/');", /unknown name `fetch`/],
    ["constructor access", "return ops.custom.constructor('x');", /`constructor` is not allowed|must be called/],
    ["computed constructor", "return ''['constructor'];", /`constructor` is not allowed/],
    ["prototype", "String.prototype.x = 1; return 'x';", /`prototype` is not allowed/],
    ["classes", "class A {} return 'x';", /`class` is not allowed/],
    ["nested functions", "function f() {} return 'x';", /nested `function`s/],
    ["dynamic import", "return await import('fs');", /import\(\) is not allowed/],
    ["getters", "const o = { get x() { return 1; } }; return 'x';", /getters and setters/],
  ])("rejects %s", (_name, line, reason) => {
    expectRejected(body(threeCalls + line), reason);
  });

  it("checks operator names, usage and arity against the family's operator set", () => {
    expectRejected(body(threeCalls + "return await ops.codeGenerate('x');"), /unknown operator `codeGenerate` for math workflows/);
    expectRejected(body(threeCalls + "const f = ops.custom; return await f('x');"), /must be called/);
    expectRejected(body(threeCalls + "const o = ops; return 'x';"), /`ops` may only be used as `ops.name/);
    expectRejected(body(threeCalls + "return await ops.custom();"), /ops.custom takes 1 argument\(s\), got 0/);
    expectRejected(body(threeCalls + "return await ops.review(a, b);"), /ops.review takes 1 argument\(s\), got 2/);
    expectRejected(body(threeCalls + "return await ops.scEnsemble('a');"), /expects an array of strings/);
    expectRejected(body(threeCalls + "return await ops['custom']('x');"), /called by name/);
  });

  it("enforces literal loop bounds, the loop limit and the call-count range", () => {
    expectRejected(body("let n = 3; for (let i = 0; i < n; i++) { await ops.custom('x'); } return 'x';"), /literal bounds/);
    expectRejected(body("for (let i = 0; i < 9; i++) { await ops.custom('x'); } return 'x';"), /runs 9 times; at most 5/);
    const oneCall = parseWorkflow(body("const draft = await ops.review('Nothing yet.'); return draft;"), "math", { maxTemplateSimilarity: 1.01 });
    expect(oneCall).toMatchObject({ ok: false, reason: expect.stringMatching(/makes 1 operator calls .* 3 to 8 allowed/) });
    expectRejected(body("for (let i = 0; i < 5; i++) { await ops.custom('a'); await ops.review('b'); } return 'x';"), /makes 10 operator calls/);
    // Callbacks of a literal array's map run once per element.
    const mapped = body("const xs = await Promise.all(['a', 'b', 'c'].map((s) => ops.custom('Solve ' + s))); return await ops.scEnsemble(xs);");
    expect(validateWorkflow(mapped, "math")).toMatchObject({ ok: true, estimatedCalls: 4 });
  });

  it("rejects a workflow too similar to its template, and measures similarity on tokens", () => {
    const reformatted = TEMPLATE_WORKFLOWS.qa.replace(/\n\s*/g, " ") + "\n";
    expect(templateSimilarity(reformatted, TEMPLATE_WORKFLOWS.qa)).toBe(1);
    // Only the instruction changed: every token but one matches, far above ScoreFlow's 0.75.
    const newInstruction = TEMPLATE_WORKFLOWS.math.replace(/"[^"]*"/, '"Solve it."');
    const v = validateWorkflow(newInstruction, "math", { minCalls: 1 });
    expect(v.ok).toBe(false);
    expect(v.similarity).toBeGreaterThan(0.9);
    expect(v.reason).toMatch(/too similar to the template \(0\.9\d >= 0.75\)/);
    // The code family only rejects an identical copy (ScoreFlow disables this filter for code).
    expect(parseWorkflow(TEMPLATE_WORKFLOWS.code, "code", { minCalls: 1 })).toEqual({ ok: false, reason: "too similar to the template (1.00 >= 1)" });
    expect(parseWorkflow(TEMPLATE_WORKFLOWS.code.replace("generate the code", "write the code"), "code", { minCalls: 1 }).ok).toBe(true);
  });
});

describe("problem-specific content", () => {
  const question = "Carol and Jennifer are sisters from Los Angeles who love collecting signatures.";
  const quoting = `async function workflow(ops) {
  const a = await ops.custom("Count how many signatures Carol and Jennifer, the SISTERS from Los Angeles, need.");
  const b = await ops.custom(\`Solve: sisters from los angeles who love collecting\`);
  return await ops.scEnsemble([a, b, a]);
}`;

  it("rejects string literals that quote five or more consecutive words of the question", () => {
    expect(parseWorkflow(quoting, "math", { question })).toEqual({ ok: false, reason: 'the workflow contains problem-specific text: "sisters from los angeles who"' });
    expect(parseWorkflow(quoting, "math").ok).toBe(true); // without the question nothing is compared
  });

  it("accepts generic instructions that share only short phrases", () => {
    const generic = quoting.replace(/"Count[^"]*"/, '"Count what is asked, step by step."').replace(/`Solve[^`]*`/, "`Solve it from the start.`");
    expect(parseWorkflow(generic, "math", { question })).toMatchObject({ ok: true });
  });
});

describe("generator prompt", () => {
  it("contains the template, every operator of the family, the question and the rules, and ends open", () => {
    const prompt = buildGeneratorPrompt("What is the sum of the first 10 primes?", "math");
    expect(prompt).toContain(TEMPLATE_WORKFLOWS.math);
    for (const name of ["custom", "programmer", "scEnsemble", "review"]) expect(prompt).toContain(`ops.${name}(`);
    expect(prompt).not.toContain("ops.codeGenerate(");
    expect(prompt).toContain("Problem: What is the sum of the first 10 primes?");
    expect(prompt).toMatch(/between 3 and 8 operator calls/);
    expect(prompt.endsWith("<workflow>\n")).toBe(true);
    const chat = buildGeneratorPrompt("Q?", "qa", { format: "chat" });
    expect(chat).toEqual([{ role: "user", content: buildGeneratorPrompt("Q?", "qa") }]);
  });

  it("every operator example in the prompt is itself valid workflow code", () => {
    for (const family of ["math", "code", "qa"] as const) {
      const prompt = buildGeneratorPrompt("Q", family);
      const examples = [...prompt.matchAll(/Example: (.*)/g)].map((m) => m[1]!);
      expect(examples.length).toBeGreaterThan(2);
      const declared = "const analysis = 'a'; const first = 'a'; const second = 'b'; const third = 'c'; const solution = 'x'; const code = 'y';";
      for (const example of examples) {
        const result = /^const (\w+)/.exec(example)![1]; // returned, so the workflow computes its answer
        const padded = `async function workflow(ops) {\n${declared}\n${example.replace(/^const (\w+)/, "const r_$1")}\n${example.replace(/^const (\w+)/, "const s_$1")}\n${example.replace(/^const (\w+)/, "const t_$1")}\nreturn r_${result};\n}`;
        expect(validateWorkflow(padded, family, { maxTemplateSimilarity: 1.01 }).reason).toBeNull();
      }
    }
  });
});
