// MATH and GSM8K rows -> MathProblem.
import { createHash } from "node:crypto";
import { DatasetError, idField, stringField, type Row } from "../datasetRows.js";
import type { MathProblem, Split } from "../problem.js";
import { lastBoxedContent } from "../scoring/boxedAnswer.js";
import { parseGsm8kNumber } from "../scoring/gsm8kScorer.js";

export function mathProblem(row: Row, split: Split): MathProblem {
  const problem = stringField(row, "problem");
  const solution = stringField(row, "solution");
  const gold = lastBoxedContent(solution);
  if (gold === null || gold.trim() === "") throw new DatasetError(row.file, row.line, "solution", "has no non-empty \\boxed{...} answer");
  return {
    id: `math/${createHash("sha256").update(problem).digest("hex").slice(0, 12)}`,
    benchmark: "math",
    family: "math",
    split,
    question: problem,
    input: problem,
    goldAnswer: gold,
    referenceSolution: solution,
    subject: stringField(row, "type"),
    level: stringField(row, "level"),
    source: { file: row.file, line: row.line },
  };
}

export function gsm8kProblem(row: Row, split: Split): MathProblem {
  const question = stringField(row, "question");
  const answer = stringField(row, "answer");
  if (parseGsm8kNumber(answer) === null) throw new DatasetError(row.file, row.line, "answer", `not a number: ${JSON.stringify(answer)}`);
  return {
    id: idField(row, "id"),
    benchmark: "gsm8k",
    family: "math",
    split,
    question,
    input: question,
    goldAnswer: answer,
    referenceSolution: stringField(row, "cot"),
    subject: null,
    level: null,
    source: { file: row.file, line: row.line },
  };
}
