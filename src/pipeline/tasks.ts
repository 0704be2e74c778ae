// The task a run's configuration names: the offline demo's simulated family or a benchmark.
import { createBenchmarkTask } from "./benchmarkTask.js";
import type { RunConfig } from "./config.js";
import { createSimulatedTask } from "./simulatedTask.js";
import type { WorkflowTask } from "./task.js";

/** `runDir`: where a benchmark task keeps its executor response cache. */
export async function createTask(config: RunConfig, runDir: string): Promise<WorkflowTask> {
  if (config.task === "simulated") return createSimulatedTask({ queries: config.simulatedQueries, seed: config.seed, latencyMs: config.simulatedLatencyMs });
  return createBenchmarkTask(config, runDir);
}
