// Limits a generated workflow must respect, per family. The numbers follow ScoreFlow's prompt rules
// (graph complexity, loop bounds) and its similarity thresholds; they are checked statically by the
// validator and stated to the generator in its prompt.
import type { TaskFamily } from "./family.js";

export interface WorkflowRules {
  /** Fewest and most operator calls, counted statically with loop bodies multiplied out. */
  minCalls: number;
  maxCalls: number;
  /** Most iterations any one `for` loop may run. */
  maxLoopIterations: number;
  /** Reject when the token similarity to the template is at least this (1 rejects only identical). */
  maxTemplateSimilarity: number;
  /** Longest accepted workflow source, in characters. */
  maxSourceChars: number;
}

export const RULES_BY_FAMILY: Readonly<Record<TaskFamily, WorkflowRules>> = {
  math: { minCalls: 3, maxCalls: 8, maxLoopIterations: 5, maxTemplateSimilarity: 0.75, maxSourceChars: 6000 },
  qa: { minCalls: 3, maxCalls: 8, maxLoopIterations: 5, maxTemplateSimilarity: 0.75, maxSourceChars: 6000 },
  // ScoreFlow disables the similarity filter for code and caps loops at 3 iterations.
  code: { minCalls: 2, maxCalls: 7, maxLoopIterations: 3, maxTemplateSimilarity: 1, maxSourceChars: 6000 },
};
