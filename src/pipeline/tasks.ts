// The task a run's configuration names.
import { ConfigError, type RunConfig } from "./config.js";
import { createSimulatedTask } from "./simulatedTask.js";
import type { WorkflowTask } from "./task.js";

export async function createTask(config: RunConfig): Promise<WorkflowTask> {
  if (config.task === "simulated") return createSimulatedTask({ queries: config.simulatedQueries, seed: config.seed, latencyMs: config.simulatedLatencyMs });
  throw new ConfigError(`task: "${config.task}" is not available in this build; use "simulated"`);
}
