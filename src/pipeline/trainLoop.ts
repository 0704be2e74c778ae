// The SPOGW loop: for each iteration collect -> dataset -> update (-> the next adapter), then a final
// collect from the last adapter, which scores it. Every phase skips what the run store already holds,
// so rerunning after a crash continues the run; the end state is the same as an uninterrupted run's.
import { runCollect, type CollectSummary } from "./collect.js";
import type { RunContext } from "./context.js";
import { runDataset, type DatasetSummary } from "./datasetPhase.js";
import { runUpdate, type UpdateSummary } from "./update.js";

export interface IterationSummary {
  iteration: number;
  /** Mean score of the workflows sampled in this iteration (from adapter `iteration`). */
  meanScore: number;
  groups: number;
  /** Mean loss of this iteration's update. */
  loss: number;
}

export interface TrainSummary {
  task: string;
  simulated: boolean;
  iterations: IterationSummary[];
  /** Workflows sampled from the last adapter. */
  final: { meanScore: number };
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
    iterations.push({ iteration, meanScore: collect.meanScore, groups: dataset.groups, loss: update.meanLoss });
  }
  const final = await runCollect(ctx, ctx.config.iterations);
  return { task: ctx.task.name, simulated: ctx.task.simulated, iterations, final: { meanScore: final.meanScore } };
}
