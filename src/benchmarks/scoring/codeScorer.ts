// Code benchmarks: the candidate solution and the hidden tests run together as one program in the Python
// sandbox; it passes when the program exits normally within the time limit.
import type { CodeProblem } from "../problem.js";
import type { PythonRunResult } from "../sandbox/runProgram.js";

/** ScoreFlow's per-problem limits for the hidden tests (HumanEval 40 s, MBPP 15 s). */
export const defaultCodeTimeoutMs: Record<CodeProblem["benchmark"], number> = { humaneval: 40_000, mbpp: 15_000 };

/**
 * Modules a model's solution commonly uses without importing them; ScoreFlow's checker pre-imports the
 * same kind of set, so a solution that forgets `import math` is not failed for that alone. Each is
 * imported only when the program mentions it: importing all of them costs as much as starting Python.
 */
const commonModules = ["math", "re", "string", "collections", "itertools", "heapq", "hashlib"];
const typingNames = /\b(?:List|Dict|Tuple|Set|FrozenSet|Optional|Union|Any|Callable|Iterable|Iterator|Sequence|Mapping|Generator)\b/;

function commonImportsFor(program: string): string {
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

/** The whole test program: common imports it mentions, the problem's prelude, the candidate, the hidden tests. */
export function codeTestProgram(problem: CodeProblem, solution: string): string {
  const program = [problem.prelude, solution, problem.hiddenTests].join("\n\n");
  return `${commonImportsFor(program)}\n\n${program}`;
}

/** One line saying why a run failed, for score details. */
export function describeRun(run: PythonRunResult): string {
  switch (run.status) {
    case "ok":
      return "hidden tests passed";
    case "error":
      return run.errorType ? `failed: ${run.errorType}` : `failed: exit ${run.exitCode ?? run.signal}`;
    case "timeout":
      return "failed: time limit";
    case "memory-limit":
      return "failed: memory limit";
    case "output-limit":
      return "failed: output limit";
  }
}
