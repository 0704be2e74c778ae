// Everything the run report and the tables show, read from a run directory: the configuration, each
// iteration's workflow scores, the kept groups (after screening and sharpening) beside the paper's
// other datasets built from the same scores (the Figure 2 comparison), the update steps, and the stored
// evaluations. Reading is separate from rendering so that the HTML is a pure function of this data.
import { basename, resolve } from "node:path";
import type Database from "better-sqlite3";
import { buildGroupDataset, populationVariance } from "../dataset/index.js";
import { evaluationsIn, type EvaluationRecord } from "../evaluation/evaluationStore.js";
import type { RunConfig } from "../pipeline/config.js";
import { openRunDatabase, RunStore, sampleKey, type SampleRecord } from "../pipeline/runStore.js";
import { readStoredConfig } from "../pipeline/storedConfig.js";

export interface SampleWorkflow {
  queryId: string;
  sampleIndex: number;
  /** Mean execution score. */
  score: number;
  /** The parsed workflow, or null when it was invalid. */
  workflow: string | null;
  invalidReason: string | null;
}

export interface ComparisonDataset {
  /** D_RS: random groups; D_RSF: random groups after dropping zero-variance ones; D_S: the highest-variance groups, not sharpened. */
  name: "D_RS" | "D_RSF" | "D_S";
  variances: number[];
  medianIntervals: number[];
}

export interface IterationData {
  iteration: number;
  /** Mean execution score of every workflow sampled in this iteration. */
  workflowScores: number[];
  invalidWorkflows: number;
  /** Kept groups (after screening and sharpening): variance of the scores a group trains on. */
  keptVariances: number[];
  /** Kept groups: gap between the two middle scores (the paper's median interval length). */
  keptMedianIntervals: number[];
  /** The paper's other datasets built from the same scores, with groups of the training size (Figure 2). */
  comparison: ComparisonDataset[];
  /** A few workflows with their scores: the best, a middle one and the worst valid, plus an invalid one if any. */
  samples: SampleWorkflow[];
}

export interface UpdateStepData {
  iteration: number;
  /** Step number over the whole run (iteration after iteration). */
  globalStep: number;
  loss: number;
  kl: number;
  clipFraction: number;
  gradNorm: number;
}

export interface RunReportData {
  /** The run directory's name. */
  name: string;
  dir: string;
  task: string;
  simulated: boolean;
  config: Partial<RunConfig>;
  iterations: IterationData[];
  updateSteps: UpdateStepData[];
  evaluations: EvaluationRecord[];
}

/** What the run's phases reported for one iteration (null where that phase is not done). */
export interface TrainingIteration {
  iteration: number;
  /** Mean score of the workflows sampled in this iteration (the collect phase's summary). */
  meanScore: number | null;
  groups: number | null;
  /** Mean loss of this iteration's update. */
  loss: number | null;
}

/** A run's name, configuration, training progress and stored evaluations: what the tables need. */
export interface RunEvaluations {
  name: string;
  dir: string;
  /** Stored fields over the defaults (see readStoredConfig). */
  config: RunConfig;
  training: TrainingIteration[];
  evaluations: EvaluationRecord[];
}

/** Reads a run's configuration and evaluations; a missing or unreadable run gives an error that names it. */
export function loadRunEvaluations(dir: string): RunEvaluations {
  const config = readStoredConfig(dir);
  const db = openRunDatabase(dir);
  try {
    return { name: basename(resolve(dir)), dir, config, training: trainingIn(db, dir), evaluations: evaluationsIn(db) };
  } finally {
    db.close();
  }
}

/** The numbers each finished phase recorded (the same ones `train` and `demo` print), per iteration. */
function trainingIn(db: Database.Database, dir: string): TrainingIteration[] {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'phases'").get();
  if (!table) return [];
  const rows = db.prepare("SELECT iteration, phase, summary FROM phases ORDER BY iteration").all() as Array<{ iteration: number; phase: string; summary: string }>;
  const byIteration = new Map<number, TrainingIteration>();
  for (const row of rows) {
    let summary: Record<string, unknown>;
    try {
      summary = JSON.parse(row.summary) as Record<string, unknown>;
    } catch {
      throw new Error(`${dir}: the ${row.phase} summary of iteration ${row.iteration} is not valid JSON`);
    }
    const entry = byIteration.get(row.iteration) ?? { iteration: row.iteration, meanScore: null, groups: null, loss: null };
    const number = (key: string) => (typeof summary[key] === "number" ? (summary[key] as number) : null);
    if (row.phase === "collect") entry.meanScore = number("meanScore");
    if (row.phase === "dataset") entry.groups = number("groups");
    if (row.phase === "update") entry.loss = number("meanLoss");
    byIteration.set(row.iteration, entry);
  }
  return [...byIteration.values()];
}

/** Reads run directory `dir`; a missing or unreadable run gives an error that names it. */
export function loadRunReportData(dir: string): RunReportData {
  const { name, config, evaluations } = loadRunEvaluations(dir);
  const store = RunStore.open(dir);
  try {
    const iterationNumbers = store.counts().map((c) => c.iteration);
    const iterations = iterationNumbers.map((iteration) => iterationData(store, config, iteration));
    const updateSteps: UpdateStepData[] = [];
    for (const iteration of iterationNumbers) {
      for (const s of store.updateSteps(iteration)) {
        updateSteps.push({
          iteration,
          globalStep: updateSteps.length,
          loss: s.loss,
          kl: s.stats.klMean ?? 0,
          clipFraction: (s.stats.clipFractionLow ?? 0) + (s.stats.clipFractionHigh ?? 0),
          gradNorm: s.gradNorm,
        });
      }
    }
    return {
      name,
      dir,
      task: config.task,
      simulated: config.task === "simulated",
      config,
      iterations,
      updateSteps,
      evaluations,
    };
  } finally {
    store.close();
  }
}

/** Gap between the two middle scores of an ascending, even-sized group (0 for odd sizes, which have one middle). */
export function medianInterval(ascendingScores: readonly number[]): number {
  const n = ascendingScores.length;
  if (n === 0 || n % 2 === 1) return 0;
  return ascendingScores[n / 2]! - ascendingScores[n / 2 - 1]!;
}

function iterationData(store: RunStore, config: RunConfig, iteration: number): IterationData {
  const samples = store.samples(iteration);
  const sums = new Map<string, { total: number; runs: number }>();
  for (const e of store.executions(iteration)) {
    const key = sampleKey(e.queryId, e.sampleIndex);
    const entry = sums.get(key) ?? { total: 0, runs: 0 };
    entry.total += e.score;
    entry.runs += 1;
    sums.set(key, entry);
  }
  const scoreOf = (s: SampleRecord) => {
    const entry = sums.get(sampleKey(s.queryId, s.sampleIndex));
    return entry ? entry.total / entry.runs : null;
  };
  const scored = samples.flatMap((s) => {
    const score = scoreOf(s);
    return score === null ? [] : [{ sample: s, score }];
  });
  const kept = store.groups(iteration);
  const comparison = comparisonDatasets(scored, config, iteration, kept.length);
  return {
    iteration,
    workflowScores: scored.map((x) => x.score),
    invalidWorkflows: samples.filter((s) => s.workflow === null).length,
    keptVariances: kept.map((g) => populationVariance(g.scores)),
    keptMedianIntervals: kept.map((g) => medianInterval(g.scores)),
    comparison,
    samples: pickSamples(scored),
  };
}

/**
 * The paper's Figure 2 datasets other than SPOGW's own, from the same per-query scores, with groups of
 * the size the update trains on (2t, or n without sharpening) and as many groups as were kept (at
 * least one per query): D_RS (random groups), D_RSF (random groups, zero-variance ones filtered out
 * first) and D_S (screening alone: the highest-variance groups of that size). Per query at most 200
 * combinations are considered (a seeded sample when there are more).
 */
function comparisonDatasets(scored: Array<{ sample: SampleRecord; score: number }>, config: RunConfig, iteration: number, keptCount: number): ComparisonDataset[] {
  const byQuery = new Map<string, number[]>();
  for (const { sample, score } of scored) {
    const scores = byQuery.get(sample.queryId) ?? [];
    scores[sample.sampleIndex] = score;
    byQuery.set(sample.queryId, scores);
  }
  const queries = [...byQuery].map(([queryId, scores]) => ({ queryId, scores: Array.from(scores, (s) => s ?? 0) }));
  if (queries.length === 0) return [];
  const m = Math.min(...queries.map((q) => q.scores.length));
  const size = Math.min(config.keep > 0 ? 2 * config.keep : config.groupSize, m);
  if (size < 2) return [];
  const scoresOf = new Map(queries.map((q) => [q.queryId, q.scores]));
  const build = (name: ComparisonDataset["name"], selection: "random" | "variance", dropZeroVariance: boolean): ComparisonDataset => {
    const groups = buildGroupDataset(queries, {
      groupSize: size, keep: 0, topN: Math.max(keptCount, queries.length), selection, dropZeroVariance, maxCombinations: 200, seed: config.seed + iteration,
    });
    const groupScores = groups.map((g) => g.members.map((i) => scoresOf.get(g.queryId)![i]!));
    return { name, variances: groupScores.map((s) => populationVariance(s)), medianIntervals: groupScores.map((s) => medianInterval(s)) };
  };
  return [build("D_RS", "random", false), build("D_RSF", "random", true), build("D_S", "variance", true)];
}

/** The best, a middle and the worst valid workflow by score, and the first invalid one, if any. */
function pickSamples(scored: Array<{ sample: SampleRecord; score: number }>): SampleWorkflow[] {
  const valid = scored.filter((x) => x.sample.workflow !== null).sort((a, b) => b.score - a.score);
  const picks = valid.length <= 3 ? valid : [valid[0]!, valid[Math.floor(valid.length / 2)]!, valid[valid.length - 1]!];
  const invalid = scored.find((x) => x.sample.workflow === null);
  if (invalid) picks.push(invalid);
  return picks.map(({ sample, score }) => ({
    queryId: sample.queryId,
    sampleIndex: sample.sampleIndex,
    score,
    workflow: sample.workflow,
    invalidReason: sample.invalidReason,
  }));
}
