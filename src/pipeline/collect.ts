// Phase 1 of an iteration: m workflows per query sampled from the current adapter (invalid ones
// regenerated up to maxAttempts), then each executed scoreRuns times. A query's samples are stored
// together; each execution is stored as it finishes. A rerun continues where the last one stopped.
import type { IterationSampler, RunContext } from "./context.js";
import { countReasons, type ReasonCount } from "./diagnosis.js";
import { sampleKey, type ExecutionRecord, type SampleRecord } from "./runStore.js";
import type { ParsedCompletion, TaskQuery, WorkflowTask } from "./task.js";

export interface CollectSummary {
  iteration: number;
  /** Workflows stored (queries x m). */
  samples: number;
  /** Workflows still invalid after maxAttempts (they score 0). */
  invalid: number;
  /** Why they were invalid: the most frequent reasons with their counts. */
  invalidReasons: ReasonCount[];
  /** Extra generation attempts spent on invalid workflows. */
  regenerations: number;
  executions: number;
  /** Executions that ended with an error (scored 0). */
  failedExecutions: number;
  /** Mean over workflows of their mean execution score. */
  meanScore: number;
  /** Mean executor tokens per execution. */
  meanExecutorTokens: number;
  /** Mean over workflows of their mean training reward (the mean score when costWeight is 0). */
  meanReward: number;
}

export async function runCollect(ctx: RunContext, iteration: number): Promise<CollectSummary> {
  const done = ctx.store.phaseSummary<CollectSummary>(iteration, "collect");
  if (done) return done;
  await generateWorkflows(ctx, iteration);
  await executeWorkflows(ctx, iteration);
  const summary = summarize(ctx, iteration);
  ctx.store.markPhaseDone(iteration, "collect", summary);
  return summary;
}

async function generateWorkflows(ctx: RunContext, iteration: number): Promise<void> {
  const { task, store } = ctx;
  const m = ctx.config.samplesPerQuery;
  const stored = store.queriesWithSamples(iteration);
  const total = task.queries.length * m;
  const resumedFrom = stored.size * m;
  let doneCount = resumedFrom;
  ctx.progress({ iteration, phase: "generate", done: doneCount, total, unit: "workflows", resumedFrom });
  if (stored.size === task.queries.length) return;
  const sampler = await ctx.samplerFor(iteration);
  const queries = task.queries.filter((q) => !stored.has(q.id));
  let next = 0;
  // After a failure no new query starts, and the phase ends only when the queries in flight have
  // stopped (what they received is kept), so nothing writes to the store after the phase has failed.
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < queries.length && !failure) {
      const query = queries[next++]!;
      try {
        store.putQuerySamples(await sampleQuery(ctx, sampler, iteration, query));
      } catch (error) {
        failure ??= { error };
        return;
      }
      doneCount += m;
      ctx.progress({ iteration, phase: "generate", done: doneCount, total, unit: "workflows", resumedFrom });
    }
  };
  await Promise.all(Array.from({ length: Math.min(sampler.parallelCalls, queries.length) }, worker));
  if (failure) throw failure.error;
  await ctx.samplingDone(iteration);
}

/**
 * The m workflow slots of one query: each attempt samples the slots still invalid (seeded by query and
 * attempt); an attempt's completions are kept in the store as they arrive, so a resumed run replays
 * them instead of sampling them again.
 */
async function sampleQuery(ctx: RunContext, sampler: IterationSampler, iteration: number, query: TaskQuery): Promise<SampleRecord[]> {
  const { config, task, store } = ctx;
  const slots: SampleRecord[] = new Array(config.samplesPerQuery);
  const kept = store.sampleAttempts(iteration, query.id);
  let pending = Array.from({ length: config.samplesPerQuery }, (_, i) => i);
  for (let attempt = 0; attempt < config.maxAttempts && pending.length > 0; attempt++) {
    let completions = kept.get(attempt);
    if (!completions) {
      const seed = ctx.seedFor(`sample:${iteration}:${query.id}:${attempt}`);
      completions = (await sampler.sample(query.prompt, {
        m: pending.length, temperature: config.temperature, topP: config.topP, maxTokens: config.maxTokens, stop: task.stop, seed,
        ...(task.grammar ? { grammar: task.grammar } : {}),
      })).map(({ seed, promptTokens, tokens, text, finishReason, stopString, logprobs }) => ({
        seed, promptTokens, tokens, text, finishReason, ...(stopString !== undefined ? { stopString } : {}), logprobs: logprobs ?? null, sampler: sampler.name,
      }));
      store.putSampleAttempt(iteration, query.id, attempt, completions);
    }
    const stillInvalid: number[] = [];
    pending.forEach((slot, j) => {
      const completion = completions[j]!;
      const parsed = parseSafely(task, completion, query);
      slots[slot] = {
        iteration, queryId: query.id, sampleIndex: slot, attempts: attempt + 1, seed: completion.seed,
        promptTokens: Int32Array.from(completion.promptTokens), completionTokens: Int32Array.from(completion.tokens), text: completion.text,
        workflow: parsed.ok ? parsed.workflow : null, invalidReason: parsed.ok ? null : parsed.reason,
        sampler: completion.sampler, samplerLogprobs: completion.logprobs ? Float32Array.from(completion.logprobs) : null,
      };
      if (!parsed.ok) stillInvalid.push(slot);
    });
    pending = stillInvalid;
  }
  return slots;
}

/** A parser that throws on some text marks that completion invalid rather than stopping the run. */
function parseSafely(task: WorkflowTask, completion: { text: string; tokens: readonly number[]; finishReason: string }, query: TaskQuery): ParsedCompletion {
  try {
    return task.parse(completion, query);
  } catch (error) {
    return { ok: false, reason: `the parser failed: ${(error as Error).message}` };
  }
}

async function executeWorkflows(ctx: RunContext, iteration: number): Promise<void> {
  const { config, task, store } = ctx;
  const queries = new Map(task.queries.map((q) => [q.id, q]));
  const finished = new Set(store.executions(iteration).map((e) => `${sampleKey(e.queryId, e.sampleIndex)}\t${e.run}`));
  const jobs: Array<{ sample: SampleRecord; run: number }> = [];
  const samples = store.samples(iteration);
  for (const sample of samples) {
    for (let run = 0; run < config.scoreRuns; run++) {
      if (!finished.has(`${sampleKey(sample.queryId, sample.sampleIndex)}\t${run}`)) jobs.push({ sample, run });
    }
  }
  const total = samples.length * config.scoreRuns;
  const resumedFrom = total - jobs.length;
  let doneCount = resumedFrom;
  ctx.progress({ iteration, phase: "execute", done: doneCount, total, unit: "executions", resumedFrom });
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { sample, run } = jobs[next++]!;
      const query = queries.get(sample.queryId)!;
      let score = 0;
      let executorTokens = 0;
      let error: string | null;
      if (sample.workflow === null) {
        error = `invalid workflow: ${sample.invalidReason ?? "unknown reason"}`;
      } else {
        try {
          const result = await task.execute(sample.workflow, query, run);
          score = result.score;
          error = result.error;
          executorTokens = Number.isInteger(result.executorTokens) && result.executorTokens >= 0 ? result.executorTokens : 0;
        } catch (e) {
          error = `execution failed: ${(e as Error).message}`;
        }
        if (!(score >= 0 && score <= 1)) {
          error = `score ${score} is outside [0, 1]`;
          score = 0;
        }
      }
      const reward = score - (config.costWeight * executorTokens) / 1000;
      store.putExecution({ iteration, queryId: sample.queryId, sampleIndex: sample.sampleIndex, run, score, error, executorTokens, reward });
      ctx.progress({ iteration, phase: "execute", done: ++doneCount, total, unit: "executions", resumedFrom });
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.executionConcurrency, jobs.length) }, worker));
}

/** Mean execution score of every stored workflow of the iteration, keyed by sampleKey. */
export function workflowScores(ctx: RunContext, iteration: number): Map<string, number> {
  return workflowMeans(ctx, iteration, (e) => e.score);
}

/** Mean training reward (score minus the cost term) of every stored workflow of the iteration, keyed by sampleKey. */
export function workflowRewards(ctx: RunContext, iteration: number): Map<string, number> {
  return workflowMeans(ctx, iteration, (e) => e.reward);
}

function workflowMeans(ctx: RunContext, iteration: number, value: (e: ExecutionRecord) => number): Map<string, number> {
  const sums = new Map<string, { total: number; runs: number }>();
  for (const e of ctx.store.executions(iteration)) {
    const key = sampleKey(e.queryId, e.sampleIndex);
    const entry = sums.get(key) ?? { total: 0, runs: 0 };
    entry.total += value(e);
    entry.runs += 1;
    sums.set(key, entry);
  }
  return new Map([...sums].map(([key, { total, runs }]) => [key, total / runs]));
}

function summarize(ctx: RunContext, iteration: number): CollectSummary {
  const samples = ctx.store.samples(iteration);
  const executions = ctx.store.executions(iteration);
  const scores = [...workflowScores(ctx, iteration).values()];
  const rewards = [...workflowRewards(ctx, iteration).values()];
  const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    iteration,
    samples: samples.length,
    invalid: samples.filter((s) => s.workflow === null).length,
    invalidReasons: countReasons(samples.filter((s) => s.workflow === null).map((s) => s.invalidReason ?? "no reason stored")),
    regenerations: samples.reduce((n, s) => n + s.attempts - 1, 0),
    executions: executions.length,
    failedExecutions: executions.filter((e) => e.error !== null).length,
    meanScore: mean(scores),
    meanExecutorTokens: mean(executions.map((e) => e.executorTokens)),
    meanReward: mean(rewards),
  };
}
