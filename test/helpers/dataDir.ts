// Where tests read the benchmark data: $SPOGW_DATA_DIR, else ../shared/data next to the repository.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { repoRoot } from "./prebuilds.js";

export const testDataDir = process.env.SPOGW_DATA_DIR ?? resolve(repoRoot, "../shared/data");

/** A new data folder (the caller removes it) holding the first `n` HumanEval rows of each split and all public tests. */
export function humanEvalSubset(n: number): string {
  const dir = mkdtempSync(join(tmpdir(), "spogw-data-subset-"));
  mkdirSync(join(dir, "humaneval"));
  for (const file of ["humaneval_validate.jsonl", "humaneval_test.jsonl", "humaneval_public_test.jsonl"]) {
    const lines = readFileSync(join(testDataDir, "humaneval", file), "utf8").split("\n").filter(Boolean);
    writeFileSync(join(dir, "humaneval", file), `${lines.slice(0, file.includes("public") ? undefined : n).join("\n")}\n`);
  }
  return dir;
}
