// The paper's Figure 3 sweeps: one run per value of the KL coefficient beta, the kept half-group t
// (group size 2t) or the dataset size N, all other settings equal. These settings act only on the
// dataset and update phases, so every run's iteration 0 samples and executes exactly the same
// workflows: the first run collects them, and each later run imports that collection instead of paying
// the generator and the executor again. A sweep directory holds `sweep.json` (the axis, the values and
// the settings) and one run directory per value; rerunning `sweep` resumes every run where it stopped.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ConfigError, resolveConfig, type RunConfig } from "./config.js";
import type { ProgressListener, WarningListener } from "./context.js";
import { openRun } from "./openRun.js";
import { RunStore } from "./runStore.js";
import type { WorkflowTask } from "./task.js";
import { runTrain, type TrainSummary } from "./trainLoop.js";

/** The settings a sweep may vary: they change what the dataset and update phases do, never a collection. */
export const SWEEP_AXES = ["beta", "keep", "topN"] as const;
export type SweepAxis = (typeof SWEEP_AXES)[number];

export const SWEEP_FILE = "sweep.json";

export interface SweepManifest {
  axis: SweepAxis;
  values: number[];
  /** The settings every run shares (the axis field at the first value). */
  settings: RunConfig;
}

export interface SweepRun {
  value: number;
  /** The run directory, relative to the sweep directory. */
  name: string;
  config: RunConfig;
}

/** The run directory of one value, e.g. "beta-0.025". */
export function sweepRunName(axis: SweepAxis, value: number): string {
  return `${axis}-${value}`;
}

/** The sweep in `dir`, or undefined when it holds none. */
export function readSweep(dir: string): SweepManifest | undefined {
  const path = join(dir, SWEEP_FILE);
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const manifest = value as Partial<SweepManifest>;
  if (!manifest || !SWEEP_AXES.includes(manifest.axis as SweepAxis) || !Array.isArray(manifest.values) || typeof manifest.settings !== "object") {
    throw new ConfigError(`${path} is not a sweep (axis, values and settings)`);
  }
  return { axis: manifest.axis as SweepAxis, values: manifest.values, settings: resolveConfig(manifest.settings as Record<string, unknown>) };
}

/**
 * The sweep's runs: `settings` (resolved layers without the axis) with each value on the axis. A new
 * sweep writes its manifest; an existing one must have the same axis and values (its settings are the
 * base the caller layered the flags over).
 */
export function planSweep(dir: string, axis: SweepAxis, values: readonly number[], settings: Record<string, unknown>): SweepRun[] {
  if (!SWEEP_AXES.includes(axis)) throw new ConfigError(`a sweep varies one of ${SWEEP_AXES.join(", ")}, not ${String(axis)}`);
  if (values.length < 2) throw new ConfigError(`a sweep needs at least two values of ${axis}, got ${values.length}`);
  if (new Set(values).size !== values.length) throw new ConfigError(`the values of ${axis} repeat: ${values.join(", ")}`);
  const runs = values.map((value) => ({ value, name: sweepRunName(axis, value), config: resolveConfig(settings, { [axis]: value }) }));
  const existing = readSweep(dir);
  if (existing) {
    if (existing.axis !== axis || existing.values.join() !== values.join()) {
      throw new ConfigError(`${dir} holds a sweep of ${existing.axis} over ${existing.values.join(", ")}; this asks for ${axis} over ${values.join(", ")} (use another directory)`);
    }
  } else {
    mkdirSync(dir, { recursive: true });
    const manifest: SweepManifest = { axis, values: [...values], settings: runs[0]!.config };
    // Written beside and renamed: a kill never leaves half a manifest.
    writeFileSync(join(dir, `${SWEEP_FILE}.partial`), `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(join(dir, `${SWEEP_FILE}.partial`), join(dir, SWEEP_FILE));
  }
  return runs;
}

/**
 * Copies iteration 0's collection (samples, executions and the phase's summary) from run `from` into
 * run `to`, in one transaction. Only when `from` finished that phase and `to` holds nothing of it yet;
 * returns whether it copied.
 */
export function importCollection(from: RunStore, to: RunStore, iteration = 0): boolean {
  const summary = from.phaseSummary(iteration, "collect");
  if (!summary || to.phaseSummary(iteration, "collect") || to.queriesWithSamples(iteration).size > 0 || to.executions(iteration).length > 0) return false;
  if (from.queryIds().join("\n") !== to.queryIds().join("\n")) throw new ConfigError(`${to.dir} and ${from.dir} train on other queries; their collections cannot be shared`);
  to.transaction(() => {
    to.putQuerySamples(from.samples(iteration));
    for (const execution of from.executions(iteration)) to.putExecution(execution);
    to.markPhaseDone(iteration, "collect", summary);
    to.setMeta(sharedCollectionKey(iteration), basename(from.dir));
  });
  return true;
}

const sharedCollectionKey = (iteration: number) => `collection ${iteration} shared from`;

/** The run (directory name) whose collection of `iteration` this run imported, or null. */
export function sharedCollectionSource(store: RunStore, iteration = 0): string | null {
  return store.getMeta(sharedCollectionKey(iteration)) ?? null;
}

export interface SweepOptions {
  createTask(config: RunConfig, dir: string): Promise<WorkflowTask>;
  onProgress?: ProgressListener;
  onWarning?: WarningListener;
  /** Called when a run starts, saying whether its iteration 0 was imported from the first run. */
  onRunStart?(run: SweepRun, shared: { from: string } | null): void;
}

export interface SweepResult {
  run: SweepRun;
  /** The run whose iteration-0 collection this one imported (null when it collected its own). */
  sharedFrom: string | null;
  summary: TrainSummary;
}

/** Runs (or resumes) every run of the sweep in order; the first one's iteration 0 is imported by the others. */
export async function runSweep(dir: string, runs: readonly SweepRun[], options: SweepOptions): Promise<SweepResult[]> {
  const results: SweepResult[] = [];
  const first = join(dir, runs[0]!.name);
  for (const [i, run] of runs.entries()) {
    const runDir = join(dir, run.name);
    const ctx = openRun(runDir, run.config, await options.createTask(run.config, runDir), {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
    try {
      if (i > 0) {
        const source = RunStore.open(first);
        try {
          importCollection(source, ctx.store);
        } finally {
          source.close();
        }
      }
      const sharedFrom = sharedCollectionSource(ctx.store);
      options.onRunStart?.(run, sharedFrom ? { from: sharedFrom } : null);
      results.push({ run, sharedFrom, summary: await runTrain(ctx) });
    } finally {
      await ctx.close();
    }
  }
  return results;
}
