// What a workflow run reads from a problem: a view of the benchmarks' Problem (src/benchmarks), so any
// loaded problem can be passed as it is, and tests can pass just these fields.
import type { CodeProblem, Problem } from "../benchmarks/problem.js";

export type WorkflowProblem = Pick<Problem, "id" | "family" | "input"> &
  Partial<Pick<CodeProblem, "entryPoint" | "publicTests" | "prelude">>;
