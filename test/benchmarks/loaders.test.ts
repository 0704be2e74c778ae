// Loaders: split sizes and fields from the shared data, and bad rows failing with file, line and field.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readJsonlRows } from "../../src/benchmarks/datasetRows.js";
import { benchmarkFile, checkDataDir, DatasetError, loadBenchmark, type BenchmarkName, type CodeProblem } from "../../src/index.js";
import { testDataDir } from "../helpers/dataDir.js";

const load = (name: BenchmarkName, split: "train" | "test") => loadBenchmark(name, split, { dataDir: testDataDir });

describe("the shared data loads", () => {
  // Sizes counted in ../shared/notes/scoreflow-aflow.md section 2.5 (validate / test).
  it.each([
    ["humaneval", 33, 131, "code"],
    ["mbpp", 86, 341, "code"],
    ["math", 119, 486, "math"],
    ["gsm8k", 264, 1055, "math"],
    ["drop", 200, 800, "qa"],
  ] as const)("%s has %i train and %i test problems of family %s", async (name, train, test, family) => {
    const [trainProblems, testProblems] = [await load(name, "train"), await load(name, "test")];
    expect(trainProblems).toHaveLength(train);
    expect(testProblems).toHaveLength(test);
    for (const p of [...trainProblems, ...testProblems]) {
      expect(p.family).toBe(family);
      expect(p.benchmark).toBe(name);
      expect(p.question.length).toBeGreaterThan(0);
    }
    expect(trainProblems.every((p) => p.split === "train" && p.source.file === benchmarkFile(name, "train", testDataDir))).toBe(true);
    // ids are unique across the two splits too
    expect(new Set([...trainProblems, ...testProblems].map((p) => p.id)).size).toBe(train + test);
  });

  it("hotpotqa has 200 train problems; its missing test split fails naming the file", async () => {
    expect(await load("hotpotqa", "train")).toHaveLength(200);
    await expect(load("hotpotqa", "test")).rejects.toThrow(`${benchmarkFile("hotpotqa", "test", testDataDir)}: file not found`);
  });

  it("the two HumanEval splits are exactly the official 164 problems", async () => {
    const official = await readJsonlRows(join(testDataDir, "humaneval", "HumanEval.jsonl.gz"));
    const problems = [...(await load("humaneval", "train")), ...(await load("humaneval", "test"))] as CodeProblem[];
    const byId = new Map(problems.map((p) => [p.id, p]));
    expect(official).toHaveLength(164);
    for (const row of official) {
      const p = byId.get(row.value.task_id as string);
      expect(p?.prelude).toBe(row.value.prompt);
      expect(p?.referenceSolution).toBe(`${row.value.prompt as string}${row.value.canonical_solution as string}`);
      expect(p?.hiddenTests).toBe(`${row.value.test as string}\n\ncheck(${row.value.entry_point as string})\n`);
    }
  });

  it("DROP: the generator sees the question only, the executor also the passage", async () => {
    const [p] = await load("drop", "train");
    if (!p || p.family !== "qa") throw new Error("no DROP problem");
    expect(p.question).toBe("How many years did the Yamethin rebellion last?");
    expect(p.question).not.toContain("Passage");
    expect(p.context.startsWith("After the end of Forty Years' War in 1424")).toBe(true);
    expect(p.input).toContain(p.question);
    expect(p.input).toContain(p.context);
    expect(p.goldAnswers).toEqual(["20"]);
  });

  it("HotpotQA: question only for the generator, titled paragraphs for the executor", async () => {
    const [p] = await load("hotpotqa", "train");
    if (!p || p.family !== "qa") throw new Error("no HotpotQA problem");
    expect(p.question).toBe("VIVA Media AG changed it's name in 2004. What does their new acronym stand for?");
    expect(p.context.split("\n")).toHaveLength(10);
    expect(p.context.startsWith("Constantin Medien: Constantin Medien AG")).toBe(true);
    expect(p.input).toContain(p.context);
    expect(p.goldAnswers).toEqual(["Gesellschaft mit beschränkter Haftung"]);
  });

  it("code problems carry entry point, hidden and public tests", async () => {
    const humaneval = (await load("humaneval", "test")) as CodeProblem[];
    const first = humaneval.find((p) => p.id === "HumanEval/0");
    expect(first?.entryPoint).toBe("has_close_elements");
    expect(first?.publicTests).toEqual([
      "assert candidate([1.0, 2.0, 3.0], 0.5) == False",
      "assert candidate([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
    ]);
    const mbpp = [...(await load("mbpp", "train")), ...(await load("mbpp", "test"))] as CodeProblem[];
    const rotation = mbpp.find((p) => p.id === "mbpp/802");
    expect(rotation?.hiddenTests).toMatch(/^def check\(\):\n {4}assert count_rotation\(\[3,2,1\]\) == 1/);
    expect(rotation?.hiddenTests.endsWith("check()\n")).toBe(true);
    // an entry point shared by two rows of the public file names two tasks: no public tests for either
    expect(mbpp.find((p) => p.entryPoint === "remove_odd")?.publicTests).toEqual([]);
    expect(mbpp.filter((p) => p.publicTests.length > 0).length).toBeGreaterThan(400);
  });

  it("data check reports every split, the missing HotpotQA test split as missing", async () => {
    const checks = await checkDataDir(testDataDir);
    expect(checks).toHaveLength(12);
    const bad = checks.filter((c) => c.count === null);
    expect(bad.map((c) => `${c.benchmark}/${c.split}`)).toEqual(["hotpotqa/test"]);
    expect(bad[0]?.missing).toBe(true);
    expect(checks.find((c) => c.benchmark === "gsm8k" && c.split === "test")?.count).toBe(1055);
  });
});

describe("bad rows fail with file, line and field", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A data directory whose `name` train file holds `lines` (and empty public-test files for code). */
  function dataDirWith(name: BenchmarkName, lines: string[]): string {
    const dir = mkdtempSync(join(tmpdir(), "spogw-data-"));
    dirs.push(dir);
    mkdirSync(join(dir, name));
    writeFileSync(benchmarkFile(name, "train", dir), `${lines.join("\n")}\n`);
    if (name === "humaneval" || name === "mbpp") writeFileSync(join(dir, name, `${name}_public_test.jsonl`), "");
    return dir;
  }

  const goodMath = JSON.stringify({ problem: "1+1?", level: "Level 5", type: "Prealgebra", solution: "It is $\\boxed{2}$." });
  const goodDrop = JSON.stringify({ context: "Passage: p\nQuestion: q?\nAnswer:", completion: " a", ref_text: "a|b", id: 1 });

  it.each([
    ["math", [goodMath, "{not json"], /math_validate\.jsonl:2: not valid JSON/],
    ["math", [goodMath, "[1, 2]"], /math_validate\.jsonl:2: not a JSON object/],
    ["math", [goodMath, JSON.stringify({ problem: "x", level: "L", type: "T" })], /math_validate\.jsonl:2: field "solution": missing/],
    ["math", [JSON.stringify({ problem: "x", level: "L", type: "T", solution: "no box" })], /:1: field "solution": has no non-empty \\boxed/],
    ["math", [goodMath, goodMath], /:2: duplicate problem id math\/\w+ \(first on line 1\)/],
    ["gsm8k", [JSON.stringify({ question: "q", answer: "twelve", cot: "c", id: "g1" })], /gsm8k_validate\.jsonl:1: field "answer": not a number/],
    ["gsm8k", [JSON.stringify({ question: 5, answer: "1", cot: "c", id: "g1" })], /:1: field "question": expected a string, got number 5/],
    ["drop", [goodDrop, JSON.stringify({ context: "no passage here", ref_text: "a", id: 2 })], /drop_validate\.jsonl:2: field "context": expected "Passage:/],
    ["drop", [JSON.stringify({ context: "Passage: p\nQuestion: q\nAnswer:", ref_text: " | ", id: 3 })], /:1: field "ref_text": no answer/],
    ["hotpotqa", [JSON.stringify({ _id: "h", answer: "a", question: "q", context: [["t", "not a list"]] })], /:1: field "context\[0\]": expected \[title/],
    ["hotpotqa", [JSON.stringify({ _id: "h", answer: "a", question: "q", context: [["t", ["s", 7]]] })], /:1: field "context\[0\]\[1\]\[1\]": expected a sentence/],
    ["humaneval", [JSON.stringify({ task_id: "H/1", prompt: "def f():\n", entry_point: "f; import os", canonical_solution: "  return 1", test: "def check(candidate): pass" })], /humaneval_validate\.jsonl:1: field "entry_point": not a Python identifier/],
    ["mbpp", [JSON.stringify({ task_id: 1, prompt: "p", code: "c", test_imports: "import math", entry_point: "f", test: "def check():\n  pass" })], /mbpp_validate\.jsonl:1: field "test_imports": expected an array/],
  ] as [BenchmarkName, string[], RegExp][])("%s row -> %s", async (name, lines, message) => {
    const dir = dataDirWith(name, lines);
    const error = await loadBenchmark(name, "train", { dataDir: dir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message.startsWith(benchmarkFile(name, "train", dir))).toBe(true);
  });

  it("a bad row does not stop data check from reporting the other files", async () => {
    const dir = dataDirWith("math", [goodMath, "{broken"]);
    const checks = await checkDataDir(dir);
    const math = checks.find((c) => c.benchmark === "math" && c.split === "train");
    expect(math?.error).toMatch(/:2: not valid JSON/);
    expect(math?.missing).toBe(false);
    expect(checks.filter((c) => c.missing)).toHaveLength(11);
  });

  it("unknown names are refused", async () => {
    await expect(loadBenchmark("mmlu" as BenchmarkName, "train", { dataDir: testDataDir })).rejects.toThrow(/unknown benchmark "mmlu"/);
    await expect(loadBenchmark("math", "validate" as "train", { dataDir: testDataDir })).rejects.toThrow(/unknown split "validate"/);
  });
});

