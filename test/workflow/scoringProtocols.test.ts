// ScoreFlow's scoring protocols beside the rule-based scorers: LLM answer extraction, then the rule
// scorer ("extract") or an LLM judge ("judge"), on real benchmark problems with a scripted LLM.
import { describe, expect, it } from "vitest";
import { loadBenchmark, scoreWithProtocol, type MathProblem, type QaProblem, type CodeProblem } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";
import { ScriptedExecutor } from "../helpers/scriptedExecutor.js";

describe("scoring protocols", async () => {
  const gsm8k = (await loadBenchmark("gsm8k", "train", { dataDir: testDataDir }))[0] as MathProblem;
  const hotpot = (await loadBenchmark("hotpotqa", "train", { dataDir: testDataDir }))[0] as QaProblem;
  const humaneval = (await loadBenchmark("humaneval", "train", { dataDir: testDataDir }))[0] as CodeProblem;
  const verbose = `Let me think about it. First 3 things, then 5 more. Therefore the result is ${gsm8k.goldAnswer}, I believe, after checking 2 cases.`;

  it("rule: the verbose output's last number decides (here a wrong one)", async () => {
    const scored = await scoreWithProtocol(gsm8k, verbose, { protocol: "rule" });
    expect(scored.score).toBe(gsm8k.goldAnswer === "2" ? 1 : 0);
  });

  it("extract: the LLM pulls out the final answer, then the rule scorer reads it", async () => {
    const judge = new ScriptedExecutor({ answer: (p) => (p.includes(verbose) && p.includes(gsm8k.question) ? `\\boxed{${gsm8k.goldAnswer}}` : "\\boxed{-1}") });
    const scored = await scoreWithProtocol(gsm8k, verbose, { protocol: "extract", judge });
    expect(scored.score).toBe(1);
    expect(judge.requests).toHaveLength(1);
    expect(judge.requests[0]!.temperature).toBe(0);
  });

  it("judge: only an exact '1' from the judge counts", async () => {
    const answerFor = (verdict: string) =>
      new ScriptedExecutor({ answer: (p) => (p.startsWith("A solver answered") ? "Paris" : p.includes("Predicted answer: Paris") ? verdict : "?") });
    for (const [verdict, score] of [["1", 1], ["0", 0], ["1.", 0], ["Yes", 0]] as const) {
      const judge = answerFor(verdict);
      const scored = await scoreWithProtocol(gsm8k, "The capital is Paris", { protocol: "judge", judge });
      expect(scored.score).toBe(score);
      expect(judge.requests).toHaveLength(2);
      expect(judge.requests[1]!.messages[0]!.content).toContain(`Reference answer: ${gsm8k.goldAnswer}`);
    }
  });

  it("judge on HotpotQA: shows the context, and an extracted answer 10x the gold's length is 0 without asking", async () => {
    const gold = hotpot.goldAnswers[0]!;
    const sameLength = new ScriptedExecutor({ answer: (p) => (p.startsWith("A solver answered") ? gold : p.includes(hotpot.context.slice(0, 200)) ? "1" : "0") });
    expect((await scoreWithProtocol(hotpot, `It is ${gold}.`, { protocol: "judge", judge: sameLength })).score).toBe(1);
    const rambling = new ScriptedExecutor({ answer: () => `${gold} `.repeat(12) });
    const scored = await scoreWithProtocol(hotpot, "whatever", { protocol: "judge", judge: rambling });
    expect(scored.score).toBe(0);
    expect(scored.detail).toMatch(/length ratio .* outside \(0\.1, 10\)/);
    expect(rambling.requests).toHaveLength(1);
  });

  it("code is always scored by its hidden tests; a failing LLM scores 0 with the reason", async () => {
    const judge = new ScriptedExecutor({ answer: () => { throw new Error("HTTP 503 (after 5 attempts)"); } });
    const code = await scoreWithProtocol(humaneval, humaneval.referenceSolution, { protocol: "judge", judge });
    expect(code.score).toBe(1);
    expect(judge.requests).toHaveLength(0);
    const failed = await scoreWithProtocol(gsm8k, verbose, { protocol: "judge", judge });
    expect(failed).toMatchObject({ score: 0, detail: "answer extraction failed: HTTP 503 (after 5 attempts)" });
  });
});
