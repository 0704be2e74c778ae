// Opening a run directory: a new run stores its settings and queries; an existing one is resumed only
// with the same settings (those a resume may change excepted) and the same queries.
import { conflictingFields, ConfigError, parseStoredConfig, type RunConfig } from "./config.js";
import { RunContext, type ProgressListener } from "./context.js";
import { preflight } from "./preflight.js";
import { lockRun } from "./runLock.js";
import { RunStore } from "./runStore.js";
import type { WorkflowTask } from "./task.js";
import { createTask } from "./tasks.js";

export interface OpenRunOptions {
  onProgress?: ProgressListener;
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
  return new RunContext(store, config, task, options.onProgress, unlock);
}

/**
 * Opens run directory `dir` for `config` with its task (a benchmark's or the simulated one). Everything
 * is checked first (settings, model, executor, data), before the run directory is touched.
 */
export async function openConfiguredRun(dir: string, config: RunConfig, options: OpenRunOptions = {}): Promise<RunContext> {
  await preflight(config);
  return openRun(dir, config, await createTask(config, dir), options);
}
