// MATH scoring: boxed extraction, normalisation and equivalence. Rewrites were written by hand from the gold
// answers in the data (or textbook forms), each checked by hand to be mathematically equal (or not).
import { beforeAll, describe, expect, it } from "vitest";
import { compareMathAnswers, lastBoxedContent, loadBenchmark, scoreAnswer, type MathProblem } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";

describe("\\boxed{} extraction", () => {
  it.each([
    ["so the answer is $\\boxed{5}$.", "5"],
    ["first \\boxed{1}, finally \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"],
    ["nested $\\boxed{\\begin{pmatrix} 1 \\\\ {2} \\end{pmatrix}}$", "\\begin{pmatrix} 1 \\\\ {2} \\end{pmatrix}"],
    ["braces in sets \\boxed{\\{1, 2\\}} ok", "\\{1, 2\\}"],
    ["no braces: \\boxed 7 is it", "7"],
    ["old style \\fbox{12}", "12"],
  ])("%s -> %s", (text, expected) => {
    expect(lastBoxedContent(text)).toBe(expected);
  });

  it.each(["no box here", "\\boxed{unclosed", ""])("%j has no answer", (text) => {
    expect(lastBoxedContent(text)).toBeNull();
  });
});

describe("the MATH data", () => {
  let problems: MathProblem[];
  beforeAll(async () => {
    problems = [
      ...((await loadBenchmark("math", "train", { dataDir: testDataDir })) as MathProblem[]),
      ...((await loadBenchmark("math", "test", { dataDir: testDataDir })) as MathProblem[]),
    ];
  });

  it("every gold answer scores 1 against its own solution", async () => {
    expect(problems).toHaveLength(605);
    const failing: string[] = [];
    for (const p of problems) {
      const result = await scoreAnswer(p, p.referenceSolution);
      if (result.score !== 1) failing.push(`${p.id}: ${result.detail}`);
    }
    expect(failing).toEqual([]);
  });

  it("every gold answer scores 1 when it is the only thing boxed, and 0 with one added to it", async () => {
    const failing: string[] = [];
    for (const p of problems) {
      if ((await scoreAnswer(p, `The final answer is $\\boxed{${p.goldAnswer}}$.`)).score !== 1) failing.push(`${p.id}: own answer`);
      if ((await scoreAnswer(p, `$\\boxed{${p.goldAnswer}+1}$`)).score !== 0) failing.push(`${p.id}: answer + 1`);
    }
    expect(failing).toEqual([]);
  });
});

describe("no over-lenient equivalence among the data's own answers", () => {
  it("of the distinct MATH gold answers, only these pairs are judged equal (each checked by hand)", async () => {
    const problems = [...(await loadBenchmark("math", "train", { dataDir: testDataDir })), ...(await loadBenchmark("math", "test", { dataDir: testDataDir }))];
    const golds = [...new Set(problems.map((p) => (p as MathProblem).goldAnswer))];
    const equalPairs: string[] = [];
    for (let i = 0; i < golds.length; i++) {
      for (let j = i + 1; j < golds.length; j++) {
        const [a, b] = [golds[i] as string, golds[j] as string].sort();
        if (compareMathAnswers(a as string, b as string).equal) equalPairs.push(`${a} == ${b}`);
      }
    }
    // Units, currency, degrees, percent, \dfrac, short \frac and a leading space: the same answers.
    expect(equalPairs.sort()).toEqual(
      [
        " \\frac{1}{13} == \\frac{1}{13}",
        "100 == 100\\text{ square units}",
        "162 == 162\\text{ minutes}",
        "28 == 28\\%",
        "30 == 30\\%",
        "36 == \\$36",
        "50 == 50^\\circ",
        "75 == 75\\%",
        "75\\% == \\frac{3}{4}",
        "\\dfrac{1}{12} == \\frac{1}{12}",
        "\\dfrac{7}{20} == \\frac{7}{20}",
        "\\frac19 == \\frac{1}{9}",
      ].sort(),
    );
  });
});

/** [gold, equivalent rewrite]: each pair is equal by the stated rule. */
const equivalentRewrites: [string, string][] = [
  ["\\frac{1}{2}", "0.5"],
  ["\\frac{1}{2}", "1/2"],
  ["\\frac{1}{2}", "\\dfrac12"],
  ["\\frac{1}{2}", "\\tfrac{1}{2}"],
  ["\\frac{3}{8}", "0.375"],
  ["1.125", "\\frac{9}{8}"],
  ["-\\frac{1}{16}", "-0.0625"],
  ["14+7\\sqrt{2}", "7\\sqrt{2}+14"],
  ["14+7\\sqrt{2}", "7(2+\\sqrt2)"],
  ["\\frac{6\\sqrt{10}}{7}", "\\frac{6}{7}\\sqrt{10}"],
  ["\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"],
  ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"],
  ["2\\sqrt{10}", "\\sqrt{40}"],
  ["\\sqrt[3]{8}", "2"],
  ["100\\text{ square units}", "100"],
  ["5.4 \\text{ cents}", "5.4"],
  ["162\\text{ minutes}", "162 minutes"],
  ["28\\%", "28"],
  ["28\\%", "0.28"],
  ["75\\%", "75%"],
  ["120^\\circ", "120"],
  ["118^{\\circ}", "118°"],
  ["156^\\circ", "156 degrees"],
  ["\\$36", "36"],
  ["\\$15.48", "15.48 dollars"],
  ["5,\\!460", "5460"],
  ["14{,}916", "14916"],
  ["12,\\!000,\\!085", "12000085"],
  ["8{,}880", "8,880"],
  ["\\frac{12}{5,\\!525}", "\\frac{12}{5525}"],
  ["11 \\frac{2}{3}", "\\frac{35}{3}"],
  ["1\\frac{1}{10}", "1.1"],
  ["\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"],
  ["0.076", ".076"],
  ["7\\pi", "\\pi \\cdot 7"],
  ["\\frac{21}{2}\\pi", "10.5\\pi"],
  ["\\frac{16 \\pi}{3}", "\\frac{16}{3}\\pi"],
  ["\\pi-2", "-2+\\pi"],
  ["-34 + 12x", "12x-34"],
  ["\\frac{3x^2}{2}", "1.5x^2"],
  ["8x^3 - 6x - 1", "-1 - 6x + 8x^3"],
  ["32R^2 - 3(a^2 + b^2 + c^2)", "32R^2 - 3a^2 - 3b^2 - 3c^2"],
  ["y = 2x + 3", "2x+3"],
  ["20x + 23y + 26z - 69 = 0", "-20x - 23y - 26z + 69 = 0"],
  ["11x + 6y + 5z + 86 = 0", "22x + 12y + 10z = -172"],
  ["3^{2007}", "3^{2007}"],
  ["2^{10}", "1024"],
  ["\\left( \\frac{7}{45}, \\frac{4}{45} \\right)", "(7/45, 4/45)"],
  ["(3,-3,1)", "\\left(3, -3, 1\\right)"],
  ["\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}", "\\begin{pmatrix} 0.2 \\\\ -3.6 \\end{pmatrix}"],
  ["\\begin{pmatrix} 1 & 2 \\\\ -3 & -5 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ -3 & -5 \\end{bmatrix}"],
  ["27^\\circ, 63^\\circ, 99^\\circ, 135^\\circ, 171^\\circ", "63, 27, 99, 171, 135"],
  ["3 \\pm 2 \\sqrt{2}", "3-2\\sqrt{2}, 3+2\\sqrt{2}"],
  ["2 + \\sqrt{3}, -2 + \\sqrt{3}", "\\sqrt3-2, \\sqrt3+2"],
  ["1, -3", "-3, 1"],
  ["-1,0,1", "\\{1, 0, -1\\}"],
  ["12\\text{ and }13", "13, 12"],
  ["\\text{Friday}", "friday"],
  ["\\text{MAKE}", "MAKE"],
  ["D", "(D)"],
  ["\\frac{3}{2} + \\frac{3}{2} i", "1.5 + 1.5i"],
  ["6 - 5i", "6-5i"],
  ["\\sqrt{6} + 3\\sqrt{2}", "3\\sqrt2+\\sqrt6"],
  ["8+4\\sqrt3", "4(2+\\sqrt{3})"],
  ["x = 5", "5"],
  ["\\frac{4036082}{4036081}", "1+\\frac{1}{4036081}"],
  ["5!", "120"],
];

/** [gold, near miss]: each differs from the gold. */
const nearMisses: [string, string][] = [
  ["\\frac{1}{2}", "\\frac{1}{3}"],
  ["\\frac{1}{2}", "0.51"],
  ["\\frac{1}{3}", "0.333"],
  ["14+7\\sqrt{2}", "14+7\\sqrt{3}"],
  ["7.78", "7.8"],
  ["28\\%", "0.29"],
  ["\\left( \\frac{7}{45}, \\frac{4}{45} \\right)", "(4/45, 7/45)"],
  ["[0,1)", "[0,1]"],
  ["\\begin{pmatrix} 1/5 \\\\ -18/5 \\end{pmatrix}", "\\begin{pmatrix} -18/5 \\\\ 1/5 \\end{pmatrix}"],
  ["-34 + 12x", "34 + 12x"],
  ["-34 + 12x", "12y - 34"],
  ["\\pi-2", "\\pi+2"],
  ["3^{2007}", "3^{2006}"],
  ["1, -3", "1, 3"],
  ["1, -3", "1"],
  ["\\text{Friday}", "Thursday"],
  ["D", "B"],
  ["1112112_3", "1112111_3"],
  ["11 \\frac{2}{3}", "\\frac{22}{3}"],
  ["6 - 5i", "6 + 5i"],
  ["x^2", "2x"],
  ["3 \\pm 2\\sqrt{2}", "3+2\\sqrt{2}"],
  ["100", "1000"],
  ["10,\\!236", "1,236"],
  ["20x + 23y + 26z - 69 = 0", "20x + 23y + 26z - 68 = 0"],
  ["\\sqrt{6}", "6"],
  ["2\\sqrt{10}", "\\sqrt{10}"],
  ["\\frac{5\\pi}{4}", "\\frac{\\pi}{4}"],
  ["120^\\circ", "60^\\circ"],
  ["27,93", "27,94"],
  // two golds of the data that differ by 2.5e-7: the tolerance must tell them apart
  ["\\frac{4036082}{4036081}", "1"],
  ["\\pi", "3.14159265"],
];

describe("equivalent rewrites score 1", () => {
  it(`has at least 40 rewrites (${equivalentRewrites.length})`, () => {
    expect(equivalentRewrites.length).toBeGreaterThanOrEqual(40);
  });
  it.each(equivalentRewrites)("gold %s = %s", (gold, rewrite) => {
    expect(compareMathAnswers(rewrite, gold).equal).toBe(true);
  });
});

describe("near misses score 0", () => {
  it(`has at least 20 near misses (${nearMisses.length})`, () => {
    expect(nearMisses.length).toBeGreaterThanOrEqual(20);
  });
  it.each(nearMisses)("gold %s != %s", (gold, miss) => {
    expect(compareMathAnswers(miss, gold).equal).toBe(false);
  });
});

describe("scoreAnswer on MATH problems", () => {
  it("scores the last box only, and 0 without a box", async () => {
    const [p] = (await loadBenchmark("math", "train", { dataDir: testDataDir })) as MathProblem[];
    if (!p) throw new Error("no MATH problems");
    expect(p.goldAnswer).toBe("135"); // first row of math_validate.jsonl
    expect((await scoreAnswer(p, "maybe \\boxed{90}, no: \\boxed{135^\\circ}")).score).toBe(1);
    expect((await scoreAnswer(p, "\\boxed{135} at first, then \\boxed{90}")).score).toBe(0);
    const unboxed = await scoreAnswer(p, "The answer is 135.");
    expect(unboxed.score).toBe(0);
    expect(unboxed.detail).toMatch(/no \\boxed/);
  });
});

describe("hostile outputs get a score, never an exception", () => {
  const deep = (n: number) => `\\boxed{${"(".repeat(n)}1${")".repeat(n)}}`;
  it.each([
    ["deeply nested brackets", deep(50_000)],
    ["deeply nested braces", `\\boxed{${"{".repeat(50_000)}1${"}".repeat(50_000)}}`],
    ["a megabyte of junk in the box", `\\boxed{${"\\frac{".repeat(100_000)}}`],
    ["an unclosed box after a closed one", "\\boxed{1} then \\boxed{\\frac{1}{2"],
    ["only backslashes", "\\".repeat(100_000)],
    ["a hundred thousand \\text{} groups", `\\boxed{${"\\text{a}".repeat(100_000)}}`],
  ])("%s", async (_, output) => {
    const [p] = (await loadBenchmark("math", "train", { dataDir: testDataDir })) as MathProblem[];
    if (!p) throw new Error("no MATH problems");
    const result = await scoreAnswer(p, output);
    expect(result.score).toBe(0);
  });

  it("a nested but short answer is still compared by value", () => {
    expect(compareMathAnswers("((((\\frac{1}{2}))))", "0.5").equal).toBe(true);
  });
});
