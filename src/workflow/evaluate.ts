// Scores one workflow on a list of problems: each problem run `runs` times in the sandbox and scored by
// the benchmarks' rule-based scorers; a run that fails (error, deadline, hostile code) scores 0 and
// keeps its reason. Problems run concurrently, bounded, and one failure never stops the others.
import type { Problem } from "../benchmarks/problem.js";
import type { ScoreOptions } from "../benchmarks/scoring/scoreAnswer.js";
import type { Executor } from "../executor/types.js";
import { runWorkflow, type RunWorkflowOptions } from "./sandbox/runWorkflow.js";
import { PROTOCOL_DESCRIPTIONS, scoreWithProtocol, type ScoringProtocol } from "./scoringProtocols.js";

export interface RunScore {
  problemId: string;
  /** 0-based repetition number. */
  run: number;
  score: number;
  /** How the score came about: the scorer's detail, or why the run failed. */
  detail: string;
  output: string | null;
  error: string | null;
  calls: number;
  executorCalls: number;
  /** Prompt plus completion tokens of the workflow's executor calls (scoring calls not included). */
  executorTokens: number;
  durationMs: number;
}

export interface EvaluateOptions extends RunWorkflowOptions {
  /** Runs per problem, averaged (the paper uses 3; default 1). */
  runs?: number;
  /** Workflow runs in flight at once (default 4). */
  concurrency?: number;
  scoreOptions?: ScoreOptions;
  /** Default "rule"; "extract" and "judge" call `judge` (default: the executor). */
  protocol?: ScoringProtocol;
  judge?: Executor;
  /** Called as each run is scored (progress output). */
  onRun?: (score: RunScore) => void;
}

export interface WorkflowEvaluation {
  runs: RunScore[];
  /** Mean over problems of each problem's mean over runs. */
  meanScore: number;
  /** Which scoring protocol produced the numbers; always printed beside them. */
  protocol: string;
}

export async function evaluateWorkflow(code: string, problems: readonly Problem[], options: EvaluateOptions): Promise<WorkflowEvaluation> {
  const runs = options.runs ?? 1;
  const jobs = problems.flatMap((problem) => Array.from({ length: runs }, (_, run) => ({ problem, run })));
  const results: RunScore[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      const { problem, run } = jobs[index]!;
      results[index] = await runAndScore(code, problem, run, options);
      options.onRun?.(results[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, jobs.length) }, worker));
  const perProblem = problems.map((p) => {
    const mine = results.filter((r) => r.problemId === p.id);
    return mine.reduce((sum, r) => sum + r.score, 0) / mine.length;
  });
  const meanScore = perProblem.length ? perProblem.reduce((a, b) => a + b, 0) / perProblem.length : 0;
  return { runs: results, meanScore, protocol: PROTOCOL_DESCRIPTIONS[options.protocol ?? "rule"] };
}

/** One run of a workflow on a problem, scored under the chosen protocol; never throws for the workflow. */
export async function runAndScore(code: string, problem: Problem, run: number, options: Omit<EvaluateOptions, "runs" | "concurrency" | "onRun">): Promise<RunScore> {
  const result = await runWorkflow(code, problem, options);
  const base = { problemId: problem.id, run, output: result.output, error: result.error, calls: result.calls, executorCalls: result.executorCalls, executorTokens: result.executorTokens, durationMs: result.durationMs };
  if (result.output === null) return { ...base, score: 0, detail: `workflow failed: ${result.error}` };
  try {
    const scored = await scoreWithProtocol(problem, result.output, {
      protocol: options.protocol ?? "rule",
      judge: options.judge ?? options.executor,
      ...(options.scoreOptions ? { scoreOptions: options.scoreOptions } : {}),
    });
    return { ...base, score: scored.score, detail: scored.detail };
  } catch (error) {
    return { ...base, score: 0, detail: `scoring failed: ${(error as Error).message}` };
  }
}
