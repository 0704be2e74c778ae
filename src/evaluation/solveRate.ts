// The paper's evaluation protocol: each problem's workflow executed `runs` times (the paper: 3), the
// solve rate of a run is the mean score over the problems, and the reported number is the mean of the
// runs' solve rates with their standard deviation. A problem whose workflow could not be written (the
// generator never produced a valid one) scores 0 in every run, with the reason kept.
import type { Problem } from "../benchmarks/problem.js";
import { PROTOCOL_DESCRIPTIONS, type ScoringProtocol } from "../workflow/scoringProtocols.js";
import { runAndScore, type EvaluateOptions, type RunScore } from "../workflow/evaluate.js";
import { summarizeRuns } from "./evaluationStore.js";

/** Benchmarks the paper scores with an LLM judge (section 4.1: "GPT-4o-mini serves as the judge model for MATH, DROP, and HotpotQA"). */
export const PAPER_JUDGED_BENCHMARKS: readonly string[] = ["math", "drop", "hotpotqa"];

/** The scoring protocol of the paper's reported numbers on `benchmark`: the judge where it used one, else the rule-based scorers. */
export function paperScoringProtocol(benchmark: string): ScoringProtocol {
  return PAPER_JUDGED_BENCHMARKS.includes(benchmark) ? "judge" : "rule";
}

/** The workflow a problem is evaluated with, or why there is none. */
export type ProblemWorkflow = { code: string } | { invalidReason: string };

export interface SolveRateOptions extends Omit<EvaluateOptions, "runs"> {
  runs: number;
  /** The executor (and default judge) of run `run`, when runs differ (see runExecutors.ts); default `executor`. */
  executorForRun?: (run: number) => EvaluateOptions["executor"];
}

export interface SolveRateResult {
  /** Every run of every problem, in (problem, run) order. */
  scores: RunScore[];
  /** Per run: the mean score over the problems. */
  runSolveRates: number[];
  solveRate: number;
  std: number;
  protocolDescription: string;
}

export async function measureSolveRate(problems: readonly Problem[], workflowFor: (problem: Problem) => ProblemWorkflow, options: SolveRateOptions): Promise<SolveRateResult> {
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error(`runs must be a positive whole number, got ${options.runs}`);
  if (problems.length === 0) throw new Error("no problems to evaluate");
  const jobs = problems.flatMap((problem) => Array.from({ length: options.runs }, (_, run) => ({ problem, run })));
  const scores: RunScore[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      const { problem, run } = jobs[index]!;
      const workflow = workflowFor(problem);
      const runOptions = options.executorForRun ? { ...options, executor: options.executorForRun(run) } : options;
      scores[index] = "code" in workflow
        ? await runAndScore(workflow.code, problem, run, runOptions)
        : { problemId: problem.id, run, score: 0, detail: `invalid workflow: ${workflow.invalidReason}`, output: null, error: workflow.invalidReason, calls: 0, executorCalls: 0, executorTokens: 0, durationMs: 0 };
      options.onRun?.(scores[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, jobs.length) }, worker));
  const runSolveRates = Array.from({ length: options.runs }, (_, run) => {
    const ofRun = scores.filter((s) => s.run === run);
    return ofRun.reduce((sum, s) => sum + s.score, 0) / ofRun.length;
  });
  return { scores, runSolveRates, ...summarizeRuns(runSolveRates), protocolDescription: PROTOCOL_DESCRIPTIONS[options.protocol ?? "rule"] };
}
