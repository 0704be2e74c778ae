// Code benchmarks: extracting the candidate's code and the imports it may take for granted. The hidden
// tests run in hiddenTests.ts, where only the judge's verdict counts.
import type { CodeProblem } from "../problem.js";

/** ScoreFlow's per-problem limits for the hidden tests (HumanEval 40 s, MBPP 15 s). */
export const defaultCodeTimeoutMs: Record<CodeProblem["benchmark"], number> = { humaneval: 40_000, mbpp: 15_000 };

/**
 * Modules a model's solution commonly uses without importing them; ScoreFlow's checker pre-imports the
 * same kind of set, so a solution that forgets `import math` is not failed for that alone. Each is
 * imported only when the program mentions it: importing all of them costs as much as starting Python.
 */
const commonModules = ["math", "re", "string", "collections", "itertools", "heapq", "hashlib"];
const typingNames = /\b(?:List|Dict|Tuple|Set|FrozenSet|Optional|Union|Any|Callable|Iterable|Iterator|Sequence|Mapping|Generator)\b/;

/** `import` lines for the common modules `program` mentions (and the typing names). */
export function commonImportsFor(program: string): string {
  const lines = commonModules.filter((name) => new RegExp(`\\b${name}\\b`).test(program)).map((name) => `import ${name}`);
  if (typingNames.test(program)) lines.push("from typing import *");
  return lines.join("\n");
}

/**
 * The Python code in a model's answer: the fenced block that defines the entry point (the last such block),
 * else the last fenced block, else the whole answer.
 */
export function extractPythonCode(output: string, entryPoint: string): string {
  const blocks = [...output.matchAll(/```[ \t]*(?:python3?|py)?[ \t]*\n([\s\S]*?)```/gi)].map((m) => m[1] ?? "");
  if (blocks.length === 0) return output;
  const defining = blocks.filter((block) => new RegExp(`\\bdef\\s+${entryPoint}\\s*\\(`).test(block));
  return (defining.length > 0 ? defining : blocks)[(defining.length > 0 ? defining : blocks).length - 1] as string;
}
