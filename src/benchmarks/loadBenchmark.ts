// loadBenchmark(name, split, { dataDir }): the files of each benchmark and the row parser for each.
import { join } from "node:path";
import { DatasetError, readJsonlRows, type Row } from "./datasetRows.js";
import { humanEvalProblem, humanEvalPublicTests, mbppPublicTests, mbppProblem, type PublicTests } from "./loaders/code.js";
import { gsm8kProblem, mathProblem } from "./loaders/math.js";
import { dropProblem, hotpotqaProblem } from "./loaders/qa.js";
import { benchmarkNames, splits, type BenchmarkName, type Problem, type Split } from "./problem.js";

export interface LoadOptions {
  /** Directory holding one folder per benchmark (`humaneval/`, `mbpp/`, ...); default $SPOGW_DATA_DIR. */
  dataDir?: string;
}

/** The AFlow/ScoreFlow file name of a split: "train" is the `validate` file. */
export function benchmarkFile(name: BenchmarkName, split: Split, dataDir: string): string {
  return join(dataDir, name, `${name}_${split === "train" ? "validate" : "test"}.jsonl`);
}

function publicTestFile(name: "humaneval" | "mbpp", dataDir: string): string {
  return join(dataDir, name, `${name}_public_test.jsonl`);
}

export function resolveDataDir(options: LoadOptions = {}): string {
  const dataDir = options.dataDir ?? process.env.SPOGW_DATA_DIR;
  if (!dataDir) throw new Error("no data directory: pass dataDir (CLI: --data-dir) or set SPOGW_DATA_DIR");
  return dataDir;
}

async function rowParser(name: BenchmarkName, dataDir: string): Promise<(row: Row, split: Split) => Problem> {
  let publicTests: PublicTests;
  switch (name) {
    case "humaneval":
      publicTests = humanEvalPublicTests(await readJsonlRows(publicTestFile(name, dataDir)));
      return (row, split) => humanEvalProblem(row, split, publicTests);
    case "mbpp":
      publicTests = mbppPublicTests(await readJsonlRows(publicTestFile(name, dataDir)));
      return (row, split) => mbppProblem(row, split, publicTests);
    case "math":
      return mathProblem;
    case "gsm8k":
      return gsm8kProblem;
    case "drop":
      return dropProblem;
    case "hotpotqa":
      return hotpotqaProblem;
  }
}

/** Loads one split; throws a DatasetError naming file, line and field on the first bad row. */
export async function loadBenchmark(name: BenchmarkName, split: Split, options: LoadOptions = {}): Promise<Problem[]> {
  if (!benchmarkNames.includes(name)) throw new Error(`unknown benchmark ${JSON.stringify(name)}; known: ${benchmarkNames.join(", ")}`);
  if (!splits.includes(split)) throw new Error(`unknown split ${JSON.stringify(split)}; use "train" or "test"`);
  const dataDir = resolveDataDir(options);
  const rows = await readJsonlRows(benchmarkFile(name, split, dataDir)); // first, so a missing split says so
  const parse = await rowParser(name, dataDir);
  const problems: Problem[] = [];
  const firstLineOfId = new Map<string, number>();
  for (const row of rows) {
    const problem = parse(row, split);
    const earlier = firstLineOfId.get(problem.id);
    if (earlier !== undefined) throw new DatasetError(row.file, row.line, null, `duplicate problem id ${problem.id} (first on line ${earlier})`);
    firstLineOfId.set(problem.id, row.line);
    problems.push(problem);
  }
  return problems;
}

/** Outcome of checking one split file. */
export interface SplitCheck {
  benchmark: BenchmarkName;
  split: Split;
  file: string;
  /** Problems loaded, or null when the file is missing or bad. */
  count: number | null;
  /** Why the file failed: missing, or the first bad row. Null when it loaded. */
  error: string | null;
  missing: boolean;
}

/** Loads every split of every benchmark, collecting one outcome per file instead of stopping at the first error. */
export async function checkDataDir(dataDir: string): Promise<SplitCheck[]> {
  const checks: SplitCheck[] = [];
  for (const benchmark of benchmarkNames) {
    for (const split of splits) {
      const file = benchmarkFile(benchmark, split, dataDir);
      try {
        const problems = await loadBenchmark(benchmark, split, { dataDir });
        checks.push({ benchmark, split, file, count: problems.length, error: null, missing: false });
      } catch (error) {
        const missing = error instanceof DatasetError && error.file === file && error.message.endsWith("file not found");
        checks.push({ benchmark, split, file, count: null, error: (error as Error).message, missing });
      }
    }
  }
  return checks;
}
