// DROP and HotpotQA rows -> QaProblem.
import { arrayField, DatasetError, idField, stringField, type Row } from "../datasetRows.js";
import type { QaProblem, Split } from "../problem.js";

/** DROP's `context` is "Passage: <passage>\nQuestion: <question>\nAnswer:"; the generator sees only the question. */
const dropContext = /^Passage: ([\s\S]*)\nQuestion: ([\s\S]*?)\s*\nAnswer:\s*$/;

export function dropProblem(row: Row, split: Split): QaProblem {
  const raw = stringField(row, "context");
  const match = dropContext.exec(raw);
  if (!match) throw new DatasetError(row.file, row.line, "context", 'expected "Passage: ...\\nQuestion: ...\\nAnswer:"');
  const passage = (match[1] ?? "").trim();
  const question = (match[2] ?? "").trim();
  if (question.includes("\nQuestion: ")) throw new DatasetError(row.file, row.line, "context", "holds more than one question");
  const goldAnswers = splitGoldAnswers(stringField(row, "ref_text"));
  if (goldAnswers.length === 0) throw new DatasetError(row.file, row.line, "ref_text", "no answer between the | separators");
  return {
    id: idField(row, "id"),
    benchmark: "drop",
    family: "qa",
    split,
    question,
    input: `Question: ${question}\n\nPassage: ${passage}`,
    goldAnswers,
    context: passage,
    source: { file: row.file, line: row.line },
  };
}

/** DROP lists its accepted answers in one string separated by "|". */
export function splitGoldAnswers(refText: string): string[] {
  return refText.split("|").map((answer) => answer.trim()).filter((answer) => answer !== "");
}

/** HotpotQA's context is ten [title, [sentence, ...]] pairs; each becomes one "title: sentences" paragraph. */
function hotpotParagraphs(row: Row): string[] {
  return arrayField(row, "context").map((item, i) => {
    const field = `context[${i}]`;
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || !Array.isArray(item[1])) {
      throw new DatasetError(row.file, row.line, field, "expected [title, [sentence, ...]]");
    }
    const sentences = item[1] as unknown[];
    sentences.forEach((s, j) => {
      if (typeof s !== "string") throw new DatasetError(row.file, row.line, `${field}[1][${j}]`, "expected a sentence string");
    });
    return `${item[0]}: ${(sentences as string[]).join("").trim()}`;
  });
}

export function hotpotqaProblem(row: Row, split: Split): QaProblem {
  const question = stringField(row, "question");
  const context = hotpotParagraphs(row).join("\n");
  return {
    id: idField(row, "_id"), // four AFlow rows carry a number here instead of the hex id
    benchmark: "hotpotqa",
    family: "qa",
    split,
    question,
    input: `Question: ${question}\n\nContext:\n${context}`,
    goldAnswers: [stringField(row, "answer")],
    context,
    source: { file: row.file, line: row.line },
  };
}
