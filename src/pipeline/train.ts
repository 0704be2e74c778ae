// The SPOGW loop: for each iteration collect -> dataset -> update (-> the next adapter), then a final
// collect from the last adapter, which scores it. Every phase skips what the run store already holds,
// so rerunning after a crash continues the run; the end state is the same as an uninterrupted run's.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCollect, type CollectSummary } from "./collect.js";
import { conflictingFields, ConfigError, parseStoredConfig, type RunConfig } from "./config.js";
import { RunContext, type ProgressListener, type WarningListener } from "./context.js";
import { runDataset, type DatasetSummary } from "./datasetPhase.js";
import type { ReasonCount } from "./diagnosis.js";
import { lockRun } from "./runLock.js";
import { readRunMeta, RUN_DATABASE, RunStore } from "./runStore.js";
import type { WorkflowTask } from "./task.js";
import { runUpdate, type UpdateSummary } from "./update.js";

export interface IterationSummary {
  iteration: number;
  /** Mean score of the workflows sampled in this iteration (from adapter `iteration`). */
  meanScore: number;
  /** Workflows sampled, those invalid after every attempt, and why. */
  workflows: number;
  invalid: number;
  invalidReasons: ReasonCount[];
  groups: number;
  /** Mean loss of this iteration's update. */
  loss: number;
  /** Why the iteration could teach nothing (see diagnosis.ts), or null. */
  warning: string | null;
}

export interface TrainSummary {
  task: string;
  simulated: boolean;
  iterations: IterationSummary[];
  /** Workflows sampled from the last adapter. */
  final: { meanScore: number };
}

export interface OpenRunOptions {
  onProgress?: ProgressListener;
  onWarning?: WarningListener;
}

/**
 * Opens run directory `dir` for `config` and `task`: a new run stores them; an existing run must have
 * been started with the same settings (those a resume may change excepted) and the same queries.
 */
export function openRun(dir: string, config: RunConfig, task: WorkflowTask, options: OpenRunOptions = {}): RunContext {
  const store = RunStore.open(dir);
  let unlock: (() => void) | undefined;
  try {
    unlock = lockRun(dir);
    const stored = store.getMeta("config");
    if (stored === undefined) {
      store.setQueryIds(task.queries.map((q) => q.id));
      store.setMeta("config", JSON.stringify(config));
    } else {
      const conflicts = conflictingFields(parseStoredConfig(stored, dir), config);
      if (conflicts.length > 0) throw new ConfigError(`run ${dir} was started with other settings (use a new run directory, or the run's own settings):\n  ${conflicts.join("\n  ")}`);
      const ids = store.queryIds();
      if (ids.join("\n") !== task.queries.map((q) => q.id).join("\n")) {
        throw new ConfigError(`run ${dir} was started on ${ids.length} other queries than the ${task.queries.length} this invocation loads (same data directory and limit?)`);
      }
      store.setMeta("config", JSON.stringify(config));
    }
  } catch (error) {
    unlock?.();
    store.close();
    throw error;
  }
  return new RunContext(store, config, task, options.onProgress, unlock, options.onWarning);
}

/** The configuration a run was started with, or undefined when `dir` holds no started run. */
export function storedConfig(dir: string): RunConfig | undefined {
  if (!isRunDirectory(dir)) return undefined;
  const text = readRunMeta(dir, "config");
  return text === undefined ? undefined : parseStoredConfig(text, dir);
}

/**
 * The configuration of the run in `dir`, for the commands that read a run (eval, report, status, table):
 * its stored fields over the defaults, so a run stored before a field existed reads as its default.
 */
export function readStoredConfig(dir: string): RunConfig {
  const text = readRunMeta(dir, "config");
  if (text === undefined) throw new Error(`${dir}: the run store has no configuration (the run was never started)`);
  return parseStoredConfig(text, dir);
}

/** True when `dir` holds a run store. */
export function isRunDirectory(dir: string): boolean {
  return existsSync(join(dir, RUN_DATABASE));
}

export async function runIteration(ctx: RunContext, iteration: number): Promise<{ collect: CollectSummary; dataset: DatasetSummary; update: UpdateSummary }> {
  const collect = await runCollect(ctx, iteration);
  const dataset = runDataset(ctx, iteration);
  const update = await runUpdate(ctx, iteration);
  return { collect, dataset, update };
}

export async function runTrain(ctx: RunContext): Promise<TrainSummary> {
  const iterations: IterationSummary[] = [];
  for (let iteration = 0; iteration < ctx.config.iterations; iteration++) {
    const { collect, dataset, update } = await runIteration(ctx, iteration);
    iterations.push({
      iteration, meanScore: collect.meanScore, workflows: collect.samples, invalid: collect.invalid, invalidReasons: collect.invalidReasons ?? [],
      groups: dataset.groups, loss: update.meanLoss, warning: dataset.warning ?? null,
    });
  }
  const final = await runCollect(ctx, ctx.config.iterations);
  return { task: ctx.task.name, simulated: ctx.task.simulated, iterations, final: { meanScore: final.meanScore } };
}
