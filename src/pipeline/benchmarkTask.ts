// A benchmark's training split as a SPOGW task: the generator writes a workflow for each question
// (the workflow issue's prompt, stopped at the closing tag), the workflow is parsed and validated, and
// each execution runs it in the sandbox against an OpenAI-compatible executor and scores the answer
// with the benchmark's rule-based scorer. Executor responses are cached in the run directory, so a
// resumed run does not pay for calls it already made; each of the scoreRuns executions has its own
// cache namespace, so run 2 and 3 are real executions rather than replays of run 1.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { benchmarkNames, loadBenchmark, type BenchmarkName, type Problem } from "../benchmarks/index.js";
import { evaluationExecutors, OpenAIExecutor, openAIExecutorOptionsFromEnv, ResponseCache } from "../executor/index.js";
import { buildGeneratorPrompt, parseWorkflow, runAndScore, WORKFLOW_CLOSE_TAG } from "../workflow/index.js";
import { ConfigError, type RunConfig } from "./config.js";
import type { TaskQuery, WorkflowTask } from "./task.js";

export const EXECUTOR_CACHE = "executor-cache.sqlite";

export function isBenchmarkName(name: string): name is BenchmarkName {
  return (benchmarkNames as readonly string[]).includes(name);
}

/** Loads the training split (errors name the file and what is wrong with it) and opens the executor. */
export async function createBenchmarkTask(config: RunConfig, runDir: string): Promise<WorkflowTask> {
  if (!isBenchmarkName(config.task)) throw new ConfigError(`task: "${config.task}" is neither a benchmark (${benchmarkNames.join(", ")}) nor "simulated"`);
  if (config.dataDir === null || config.executorUrl === null) throw new ConfigError("dataDir and executorUrl are needed for a benchmark task");
  const all = await loadBenchmark(config.task, "train", { dataDir: config.dataDir });
  const problems = config.limit === null ? all : all.slice(0, config.limit);
  if (problems.length === 0) throw new ConfigError(`${config.task}: the training split in ${config.dataDir} has no problems`);
  const byId = new Map<string, Problem>(problems.map((p) => [p.id, p]));
  const queries: TaskQuery[] = problems.map((p) => ({ id: p.id, prompt: buildGeneratorPrompt(p.question, p.family) }));

  const settings = openAIExecutorOptionsFromEnv({ baseURL: config.executorUrl, model: config.executorModel });
  const model = new OpenAIExecutor({ ...settings, concurrency: config.executionConcurrency * 2 });
  mkdirSync(runDir, { recursive: true });
  const cache = new ResponseCache(join(runDir, EXECUTOR_CACHE));
  const executors = evaluationExecutors(model, cache, model.defaultTemperature);
  return {
    name: config.task,
    simulated: false,
    queries,
    stop: [WORKFLOW_CLOSE_TAG],
    parse(completion, query) {
      const parsed = parseWorkflow(completion.text, byId.get(query.id)!.family);
      return parsed.ok ? { ok: true, workflow: parsed.code } : { ok: false, reason: parsed.reason };
    },
    async execute(workflow, query, run) {
      const result = await runAndScore(workflow, byId.get(query.id)!, run, { executor: executors.forRun(run) });
      return { score: result.score, error: result.error ?? (result.output === null ? result.detail : null), executorTokens: result.executorTokens };
    },
    async close() {
      await executors.close();
      cache.close();
    },
  };
}
