// Where a run stands: per iteration, what each phase has stored and which phases are done.
import type { CollectSummary } from "./collect.js";
import type { RunConfig } from "./config.js";
import type { DatasetSummary } from "./datasetPhase.js";
import { RUN_DATABASE, RunStore, type Phase } from "./runStore.js";
import { isRunDirectory, readStoredConfig } from "./storedConfig.js";
import type { UpdateSummary } from "./update.js";

export interface IterationStatus {
  iteration: number;
  phasesDone: Phase[];
  samples: number;
  executions: number;
  groups: number;
  logprobs: number;
  updateSteps: number;
  meanScore: number | null;
  loss: number | null;
}

export interface RunStatus {
  dir: string;
  task: string;
  iterationsPlanned: number;
  queries: number;
  /** Expected per collect: queries x m workflows, each run scoreRuns times. */
  samplesPerIteration: number;
  executionsPerIteration: number;
  iterations: IterationStatus[];
  adapters: string[];
  /** The next thing `train` would do, or "done". */
  next: string;
}

export function runStatus(dir: string): RunStatus {
  if (!isRunDirectory(dir)) throw new Error(`${dir} is not a run directory (no ${RUN_DATABASE}); start one with \`spogw-native train\` or \`demo\``);
  const config = readStoredConfig(dir);
  const store = RunStore.open(dir);
  try {
    const queries = store.queryIds().length;
    const iterations = store.counts().map((c): IterationStatus => ({
      ...c,
      meanScore: store.phaseSummary<CollectSummary>(c.iteration, "collect")?.meanScore ?? null,
      loss: store.phaseSummary<UpdateSummary>(c.iteration, "update")?.meanLoss ?? null,
    }));
    return {
      dir,
      task: config.task,
      iterationsPlanned: config.iterations,
      queries,
      samplesPerIteration: queries * config.samplesPerQuery,
      executionsPerIteration: queries * config.samplesPerQuery * config.scoreRuns,
      iterations,
      adapters: store.adapters().map((a) => a.gguf),
      next: nextStep(store, config),
    };
  } finally {
    store.close();
  }
}

function nextStep(store: RunStore, config: RunConfig): string {
  for (let iteration = 0; iteration < config.iterations; iteration++) {
    for (const phase of ["collect", "dataset", "update"] as const) {
      if (!store.phaseSummary(iteration, phase)) return `${phase} of iteration ${iteration}`;
    }
  }
  if (!store.phaseSummary(config.iterations, "collect")) return `final collect (iteration ${config.iterations}, scoring the last adapter)`;
  return "done";
}

export type { DatasetSummary };
