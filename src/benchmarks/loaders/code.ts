// HumanEval and MBPP rows -> CodeProblem. Formats: ../notes/scoreflow-aflow.md section 4 (AFlow files).
import { DatasetError, idField, stringArrayField, stringField, type Row } from "../datasetRows.js";
import type { CodeProblem, Split } from "../problem.js";

const pythonIdentifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

function entryPointField(row: Row): string {
  const name = stringField(row, "entry_point");
  if (!pythonIdentifier.test(name)) throw new DatasetError(row.file, row.line, "entry_point", `not a Python identifier: ${JSON.stringify(name)}`);
  return name;
}

/** Public tests of one benchmark, looked up by HumanEval task id or by MBPP entry point. */
export type PublicTests = Map<string, string[]>;

/** HumanEval public tests are keyed by `problem_id` (the task id), which is unique. */
export function humanEvalPublicTests(rows: Row[]): PublicTests {
  return new Map(rows.map((row) => [stringField(row, "problem_id"), stringArrayField(row, "test")]));
}

/**
 * MBPP public tests carry only `entry_point`; an entry point that appears on several rows names different
 * tasks, so it gets no public tests rather than another task's.
 */
export function mbppPublicTests(rows: Row[]): PublicTests {
  const byEntryPoint = new Map<string, string[]>();
  const seenTwice = new Set<string>();
  for (const row of rows) {
    const name = entryPointField(row);
    const tests = stringArrayField(row, "test");
    if (byEntryPoint.has(name)) seenTwice.add(name);
    byEntryPoint.set(name, tests);
  }
  for (const name of seenTwice) byEntryPoint.set(name, []);
  return byEntryPoint;
}

export function humanEvalProblem(row: Row, split: Split, publicTests: PublicTests): CodeProblem {
  const id = stringField(row, "task_id");
  const prompt = stringField(row, "prompt");
  const entryPoint = entryPointField(row);
  const test = stringField(row, "test");
  if (!/\bdef check\(\s*candidate\s*\)/.test(test)) throw new DatasetError(row.file, row.line, "test", "has no `def check(candidate)`");
  return {
    id,
    benchmark: "humaneval",
    family: "code",
    split,
    question: prompt,
    input: prompt,
    entryPoint,
    prelude: prompt,
    hiddenTests: `${test}\n\ncheck(${entryPoint})\n`,
    publicTests: publicTests.get(id) ?? [],
    referenceSolution: prompt + stringField(row, "canonical_solution"),
    source: { file: row.file, line: row.line },
  };
}

export function mbppProblem(row: Row, split: Split, publicTests: PublicTests): CodeProblem {
  const taskId = idField(row, "task_id");
  const prompt = stringField(row, "prompt");
  const entryPoint = entryPointField(row);
  const test = stringField(row, "test");
  if (!/\bdef check\(\s*\)/.test(test)) throw new DatasetError(row.file, row.line, "test", "has no `def check()`");
  return {
    id: `mbpp/${taskId}`,
    benchmark: "mbpp",
    family: "code",
    split,
    question: prompt,
    input: prompt,
    entryPoint,
    prelude: stringArrayField(row, "test_imports").join("\n"),
    hiddenTests: `${test}\n\ncheck()\n`,
    publicTests: publicTests.get(entryPoint) ?? [],
    referenceSolution: stringField(row, "code"),
    source: { file: row.file, line: row.line },
  };
}
