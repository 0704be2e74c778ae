// A stored run's settings, read without opening the run for work: for the commands that read a run
// (eval, report, status, table) and for resuming one. Nothing here loads a model.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseStoredConfig, type RunConfig } from "./config.js";
import { readRunMeta, RUN_DATABASE } from "./runStore.js";

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
