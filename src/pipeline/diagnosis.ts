// Why an iteration has nothing to learn. A run whose generator writes no valid workflow, whose
// executor fails every call, or whose task is out of reach scores every workflow of a query alike, so
// no group has score variance and the update learns nothing; this says so, with the likely cause,
// instead of printing "0 groups, update loss 0.0000" and going on.
import type { SampleRecord } from "./runStore.js";

export interface ReasonCount {
  reason: string;
  count: number;
}

/** The most frequent reasons first (ties by text), at most `top`; positions like "(3:14)" are dropped so that one kind of error counts once. */
export function countReasons(reasons: readonly string[], top = 3): ReasonCount[] {
  const counts = new Map<string, number>();
  for (const text of reasons) {
    const reason = text.replace(/\s*\(\d+:\d+\)/g, "").slice(0, 160);
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1)).slice(0, top);
}

/** "5 × no `async function workflow` in the completion; 3 × syntax error: ..." */
export function formatReasons(reasons: readonly ReasonCount[]): string {
  return reasons.map((r) => `${r.count} × ${r.reason}`).join("; ");
}

/** What the collect phase saw that explains a run without signal. */
export interface CollectFacts {
  samples: number;
  invalid: number;
  invalidReasons: ReasonCount[];
  /** Invalid workflows whose completion reached maxTokens (cut off). */
  invalidAtTokenLimit: number;
  /** Executions of valid workflows, and those that failed. */
  validExecutions: number;
  failedValidExecutions: number;
  executionErrors: ReasonCount[];
  meanScore: number;
}

export function collectFacts(
  samples: readonly SampleRecord[], executions: ReadonlyArray<{ queryId: string; sampleIndex: number; error: string | null }>, maxTokens: number, meanScore: number,
): CollectFacts {
  const invalid = samples.filter((s) => s.workflow === null);
  const valid = new Set(samples.filter((s) => s.workflow !== null).map((s) => `${s.queryId}\t${s.sampleIndex}`));
  const validExecutions = executions.filter((e) => valid.has(`${e.queryId}\t${e.sampleIndex}`));
  const failed = validExecutions.filter((e) => e.error !== null);
  return {
    samples: samples.length,
    invalid: invalid.length,
    invalidReasons: countReasons(invalid.map((s) => s.invalidReason ?? "no reason stored")),
    invalidAtTokenLimit: invalid.filter((s) => s.completionTokens.length >= maxTokens).length,
    validExecutions: validExecutions.length,
    failedValidExecutions: failed.length,
    executionErrors: countReasons(failed.map((e) => e.error!)),
    meanScore,
  };
}

/**
 * A warning when none of the iteration's kept groups has score variance (null when some group carries
 * signal), naming the likely cause: the generator (no valid workflow; cut off at the token limit: the
 * context or maxTokens), the executor (every execution failed), or the task (every workflow of a query
 * scored the same).
 */
export function nothingToLearn(iteration: number, facts: CollectFacts, groupsWithSignal: number, maxTokens: number): string | null {
  if (groupsWithSignal > 0) return null;
  const head = `nothing to learn in iteration ${iteration}: no kept group has score variance, so the update cannot change the generator.`;
  if (facts.samples > 0 && facts.invalid === facts.samples) {
    const cut = facts.invalidAtTokenLimit > 0
      ? ` ${facts.invalidAtTokenLimit} of them stopped at maxTokens (${maxTokens}): raise --max-tokens (and the context size the model allows) if workflows need more room.`
      : "";
    return `${head} Likely cause: the generator. All ${facts.samples} workflows were invalid (${formatReasons(facts.invalidReasons)}).${cut}` +
      " Check that the generator model can follow the workflow prompt (a larger or instruction-tuned model), and the prompt itself.";
  }
  if (facts.validExecutions > 0 && facts.failedValidExecutions === facts.validExecutions) {
    return `${head} Likely cause: the executor. Every execution of a valid workflow failed (${formatReasons(facts.executionErrors)}).` +
      " Check the executor URL, model name and key (try `eval --workflow io` with the same executor).";
  }
  return `${head} Every workflow of each query scored alike (mean score ${facts.meanScore.toFixed(3)}; ${facts.invalid} of ${facts.samples} invalid).` +
    " Likely cause: the task is out of reach (or trivial) for this generator and executor, or the scorer fails silently; check a baseline with `eval --workflow cot`.";
}
