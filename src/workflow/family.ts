// The task families (the type is the benchmarks' own); each has its own operator set and prompt.
import type { TaskFamily } from "../benchmarks/problem.js";

export type { TaskFamily };
export const TASK_FAMILIES: readonly TaskFamily[] = ["code", "math", "qa"];

export function isTaskFamily(value: unknown): value is TaskFamily {
  return typeof value === "string" && (TASK_FAMILIES as readonly string[]).includes(value);
}
