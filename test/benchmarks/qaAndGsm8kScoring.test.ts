// DROP/HotpotQA token F1 and GSM8K last-number scoring, against hand-computed values and the data.
import { describe, expect, it } from "vitest";
import { exactMatch, lastNumber, loadBenchmark, normalizeQaAnswer, scoreAnswer, tokenF1, type Problem } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";

describe("SQuAD normalisation and token F1", () => {
  it("normalises case, punctuation, articles and spaces", () => {
    expect(normalizeQaAnswer("  The Beatles,  an English band! ")).toBe("beatles english band");
  });

  // Each F1 was worked out by hand: tokens after normalisation, common count, precision, recall.
  it.each([
    // [cat, sat] vs [cat, sat, on, mat]: common 2, P 1, R 1/2 -> 2/3
    ["the cat sat", "cat sat on the mat", 2 / 3],
    // [paris, france] vs [paris]: P 1/2, R 1 -> 2/3
    ["Paris, France", "Paris", 2 / 3],
    // [1000, yards] vs [1000] (the comma is punctuation): P 1/2, R 1 -> 2/3
    ["1,000 yards", "1000", 2 / 3],
    // bags {x:2, y:1} vs {x:1, y:2}: common min(2,1)+min(1,2) = 2, P 2/3, R 2/3 -> 2/3
    ["x x y", "x y y", 2 / 3],
    // [new, york, city] vs [new, york]: P 2/3, R 1 -> 0.8
    ["New York City", "New York", 0.8],
    // article dropped: identical token lists
    ["The Beatles", "Beatles", 1],
    ["Yes.", "no", 0],
    ["", "something", 0],
    // [3, touchdowns, and, 2, field, goals] vs [3]: P 1/6, R 1 -> 2/7
    ["3 touchdowns and 2 field goals", "3", 2 / 7],
  ])("F1(%j, %j) = %d", (prediction, gold, expected) => {
    expect(tokenF1(prediction, gold)).toBeCloseTo(expected, 12);
  });

  it("exact match compares normalised answers", () => {
    expect(exactMatch("The Beatles!", "beatles")).toBe(true);
    expect(exactMatch("Beatles band", "beatles")).toBe(false);
  });
});

async function allProblems(name: "drop" | "hotpotqa" | "gsm8k"): Promise<Problem[]> {
  const train = await loadBenchmark(name, "train", { dataDir: testDataDir });
  if (name === "hotpotqa") return train; // the HotpotQA test split is not in the shared data
  return [...train, ...(await loadBenchmark(name, "test", { dataDir: testDataDir }))];
}

describe("QA gold answers", () => {
  it.each(["drop", "hotpotqa"] as const)("every %s gold answer scores 1 (F1 and exact match)", async (name) => {
    const failing: string[] = [];
    let golds = 0;
    for (const p of await allProblems(name)) {
      if (p.family !== "qa") throw new Error(`${p.id} is not a QA problem`);
      for (const gold of p.goldAnswers) {
        golds++;
        const result = await scoreAnswer(p, gold);
        if (result.score !== 1 || result.exactMatch !== true) failing.push(`${p.id}: ${JSON.stringify(gold)} ${result.detail}`);
      }
    }
    expect(golds).toBeGreaterThanOrEqual(name === "drop" ? 1000 : 200);
    expect(failing).toEqual([]);
  });

  it("takes the best of DROP's |-separated answers", async () => {
    const problem = (await allProblems("drop")).find((p) => p.family === "qa" && p.goldAnswers.length > 1);
    if (!problem || problem.family !== "qa") throw new Error("no DROP problem with several answers");
    const second = problem.goldAnswers[1] as string;
    const result = await scoreAnswer(problem, second);
    expect(result.score).toBe(1);
    expect(result.detail).toContain(JSON.stringify(second).slice(1, -1));
  });

  it("a verbose answer scores its F1, not 1", async () => {
    const problem = (await allProblems("hotpotqa"))[0];
    if (!problem || problem.family !== "qa") throw new Error("no HotpotQA problem");
    const gold = problem.goldAnswers[0] as string;
    const goldTokens = normalizeQaAnswer(gold).split(" ").length;
    const verbose = `After reading the context carefully, the answer is ${gold}`;
    const verboseTokens = normalizeQaAnswer(verbose).split(" ").length;
    const result = await scoreAnswer(problem, verbose);
    // every gold token is present: recall 1, precision goldTokens / verboseTokens
    const precision = goldTokens / verboseTokens;
    expect(result.score).toBeCloseTo((2 * precision) / (precision + 1), 12);
    expect(result.exactMatch).toBe(false);
  });
});

describe("GSM8K", () => {
  it.each([
    ["So they need 1,450,000 dollars.", 1450000],
    ["first 12, then 36.5", 36.5],
    ["it drops to -5 degrees", -5],
    ["The answer is 18.", 18],
    ["no digits at all", null],
  ])("last number of %j is %s", (text, expected) => {
    expect(lastNumber(text)).toBe(expected);
  });

  it("every gold answer scores 1 at the end of its own worked solution, and 0 when off by one", async () => {
    const failing: string[] = [];
    for (const p of await allProblems("gsm8k")) {
      if (p.family !== "math") throw new Error(`${p.id} is not a math problem`);
      if ((await scoreAnswer(p, `${p.referenceSolution}\nThe answer is ${p.goldAnswer}.`)).score !== 1) failing.push(`${p.id}: gold`);
      const offByOne = Number(p.goldAnswer.replaceAll(",", "")) + 1;
      if ((await scoreAnswer(p, `The answer is ${offByOne}`)).score !== 0) failing.push(`${p.id}: gold + 1`);
    }
    expect(failing).toEqual([]);
  });
});
