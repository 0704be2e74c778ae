// The nothing-to-learn warning names the likely cause from what the collect phase stored: the generator
// (every workflow invalid, some cut at the token limit), the executor (every execution of a valid
// workflow failed) or the task (everything scored alike); no warning while a group carries signal.
import { describe, expect, it } from "vitest";
import { collectFacts, countReasons, nothingToLearn, type SampleRecord } from "../../src/pipeline/index.js";

const sample = (sampleIndex: number, workflow: string | null, invalidReason: string | null, tokens = 5): SampleRecord => ({
  iteration: 0, queryId: "q", sampleIndex, attempts: 1, seed: 0, promptTokens: Int32Array.of(1), completionTokens: new Int32Array(tokens),
  text: "", workflow, invalidReason, sampler: null, samplerLogprobs: null,
});
const execution = (sampleIndex: number, error: string | null) => ({ queryId: "q", sampleIndex, error });

describe("nothing to learn", () => {
  it("counts reasons, one kind of syntax error once whatever its position", () => {
    expect(countReasons(["syntax error: Unexpected token (3:14)", "syntax error: Unexpected token (1:2)", "no workflow", "a", "b"], 2)).toEqual([
      { reason: "syntax error: Unexpected token", count: 2 },
      { reason: "a", count: 1 },
    ]);
  });

  it("blames the generator when every workflow is invalid, and the token limit when completions were cut", () => {
    const samples = [sample(0, null, "no workflow", 24), sample(1, null, "no workflow", 24), sample(2, null, "syntax error: x (1:1)", 10)];
    const facts = collectFacts(samples, [0, 1, 2].map((i) => execution(i, "invalid workflow")), 24, 0);
    expect(facts).toMatchObject({ samples: 3, invalid: 3, invalidAtTokenLimit: 2, validExecutions: 0 });
    const warning = nothingToLearn(0, facts, 0, 24)!;
    expect(warning).toMatch(/^nothing to learn in iteration 0: no kept group has score variance/);
    expect(warning).toContain("Likely cause: the generator. All 3 workflows were invalid (2 × no workflow; 1 × syntax error: x).");
    expect(warning).toContain("2 of them stopped at maxTokens (24): raise --max-tokens");
    expect(nothingToLearn(0, facts, 1, 24)).toBeNull();
  });

  it("blames the executor when every execution of a valid workflow failed", () => {
    const facts = collectFacts([sample(0, "w", null), sample(1, null, "bad")], [execution(0, "executor: HTTP 401"), execution(0, "executor: HTTP 401"), execution(1, "invalid workflow: bad")], 512, 0);
    expect(facts).toMatchObject({ validExecutions: 2, failedValidExecutions: 2 });
    expect(nothingToLearn(2, facts, 0, 512)).toContain("Likely cause: the executor. Every execution of a valid workflow failed (2 × executor: HTTP 401).");
  });

  it("says every workflow scored alike otherwise", () => {
    const facts = collectFacts([sample(0, "w", null), sample(1, "w", null)], [execution(0, null), execution(1, null)], 512, 1);
    expect(nothingToLearn(1, facts, 0, 512)).toContain("Every workflow of each query scored alike (mean score 1.000; 0 of 2 invalid).");
  });
});
