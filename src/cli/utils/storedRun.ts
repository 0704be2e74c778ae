// Opens an existing run with the settings it was started with, for the single-phase commands.
import { createTask, openRun, preflight, storedConfig, type RunContext } from "../../pipeline/index.js";
import { progressPrinter } from "./progressPrinter.js";

export async function openStoredRun(dir: string): Promise<RunContext> {
  const config = storedConfig(dir);
  if (!config) throw new Error(`${dir} is not a run directory; start a run with \`spogw-native train ${dir} ...\``);
  await preflight(config);
  return openRun(dir, config, await createTask(config, dir), { onProgress: progressPrinter() });
}

/** The iteration a phase command works on: the one given, or the first whose phase is not done. */
export function pickIteration(ctx: RunContext, phase: "collect" | "dataset" | "update", given: number | undefined): number {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 0) throw new Error(`--iteration must be a whole number >= 0, got ${given}`);
    return given;
  }
  let iteration = 0;
  while (ctx.store.phaseSummary(iteration, phase)) iteration++;
  return iteration;
}
