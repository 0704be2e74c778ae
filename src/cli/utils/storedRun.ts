// Opens a run for train and the single-phase commands: an existing run's own settings, overridden by
// a --config file and flags (only those a resume may change), or a new run from them. Everything is
// checked (settings, model, executor, data) before the run directory is touched.
import { stringify as toYaml } from "yaml";
import { openConfiguredRun, storedConfig, type Phase, type RunConfig, type RunContext } from "../../pipeline/index.js";
import { resolveEngineDevice } from "../../train/index.js";
import { progressPrinter } from "./progressPrinter.js";
import { configFromArgv } from "./runFlags.js";

/** The settings `dir` runs with: an existing run's own, under the --config file and flags; nothing is created. */
export function resolveRunConfig(dir: string, argv: Record<string, unknown>): RunConfig {
  return configFromArgv(argv, storedConfig(dir) ?? {});
}

/** The settings as a config file (YAML, which --config reads back) or one JSON object. */
export function printRunConfig(config: RunConfig, json: boolean): void {
  process.stdout.write(json ? `${JSON.stringify(config)}\n` : toYaml(config));
}

export async function openRunFromArgv(dir: string, argv: Record<string, unknown>, prefix = ""): Promise<RunContext> {
  const config = resolveRunConfig(dir, argv);
  process.stderr.write(`${prefix}training engine: ${resolveEngineDevice(config.engineDevice)} (engineDevice ${config.engineDevice})\n`);
  return openConfiguredRun(dir, config, {
    onProgress: progressPrinter(process.stderr, prefix),
    onWarning: (message) => process.stderr.write(`${prefix}WARNING: ${message}\n`),
  });
}

/** The iteration a phase command works on: the one given, or the first whose phase is not done. */
export function pickIteration(ctx: RunContext, phase: Phase, given: number | undefined): number {
  if (given === undefined) return ctx.store.nextIteration(phase);
  if (!Number.isInteger(given) || given < 0) throw new Error(`--iteration must be a whole number >= 0, got ${given}`);
  return given;
}
