// Opens a run for train and the single-phase commands: an existing run's own settings, overridden by
// a --config file and flags (only those a resume may change), or a new run from them. Everything is
// checked (settings, model, executor, data) before the run directory is touched.
import { openConfiguredRun, storedConfig, type Phase, type RunContext } from "../../pipeline/index.js";
import { resolveEngineDevice } from "../../train/index.js";
import { progressPrinter } from "./progressPrinter.js";
import { configFromArgv } from "./runFlags.js";

export async function openRunFromArgv(dir: string, argv: Record<string, unknown>, prefix = ""): Promise<RunContext> {
  const config = configFromArgv(argv, storedConfig(dir) ?? {});
  process.stderr.write(`${prefix}training engine: ${resolveEngineDevice(config.engineDevice)} (engineDevice ${config.engineDevice})\n`);
  return openConfiguredRun(dir, config, { onProgress: progressPrinter(process.stderr, prefix) });
}

/** The iteration a phase command works on: the one given, or the first whose phase is not done. */
export function pickIteration(ctx: RunContext, phase: Phase, given: number | undefined): number {
  if (given === undefined) return ctx.store.nextIteration(phase);
  if (!Number.isInteger(given) || given < 0) throw new Error(`--iteration must be a whole number >= 0, got ${given}`);
  return given;
}
