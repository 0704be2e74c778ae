// `spogw-native eval`: scores one workflow (a built-in baseline or a workflow file) on a benchmark with
// an OpenAI-compatible executor, and prints each run, the mean, the scoring protocol and the executor's
// calls, retries, tokens and cost.
import { readFile } from "node:fs/promises";
import type { CommandModule } from "yargs";
import { benchmarkNames, loadBenchmark, type BenchmarkName, type Split } from "../../benchmarks/index.js";
import { CachingExecutor, EmbeddedExecutor, OpenAIExecutor, openAIExecutorOptionsFromEnv, ResponseCache, type Executor } from "../../executor/index.js";
import type { TaskFamily } from "../../benchmarks/problem.js";
import { BASELINE_NAMES, baselineWorkflow, evaluateWorkflow, isBaselineName, parseWorkflow, SCORING_PROTOCOLS, type ScoringProtocol } from "../../workflow/index.js";

interface EvalOptions {
  workflow: string;
  benchmark: BenchmarkName;
  split: Split;
  limit?: number;
  runs: number;
  "data-dir"?: string;
  executor?: string;
  "executor-model"?: string;
  "executor-key"?: string;
  "max-tokens": number;
  "timeout-ms": number;
  concurrency: number;
  cache?: string;
  "wall-ms": number;
  scoring: ScoringProtocol;
}

/** A baseline by name, or a workflow program from a file (checked for shape and banned constructs). */
async function workflowCode(spec: string, family: TaskFamily): Promise<string> {
  if (isBaselineName(spec)) return baselineWorkflow(spec, family);
  const text = await readFile(spec, "utf8").catch(() => {
    throw new Error(`--workflow ${spec}: neither a baseline (${BASELINE_NAMES.join(", ")}) nor a readable file`);
  });
  const parsed = parseWorkflow(text, family, { minCalls: 1, maxCalls: 100, maxTemplateSimilarity: 1.01 });
  if (!parsed.ok) throw new Error(`--workflow ${spec}: ${parsed.reason}`);
  return parsed.code;
}

/** The executor named by the flags: `gguf:FILE` runs a local model in-process, anything else is an API URL. */
async function openExecutor(argv: EvalOptions): Promise<{ executor: Executor & { defaultTemperature: number }; label: string }> {
  if (argv.executor?.startsWith("gguf:")) {
    const modelPath = argv.executor.slice("gguf:".length);
    const executor = await EmbeddedExecutor.load({ modelPath, threads: 1, sequences: Math.max(1, argv.concurrency), maxTokens: argv["max-tokens"] });
    return { executor, label: `${modelPath} in-process (node-llama-cpp, ${executor.chatFormat} prompts)` };
  }
  const settings = openAIExecutorOptionsFromEnv({
    ...(argv.executor ? { baseURL: argv.executor } : {}),
    ...(argv["executor-model"] ? { model: argv["executor-model"] } : {}),
    ...(argv["executor-key"] ? { apiKey: argv["executor-key"] } : {}),
  });
  const executor = new OpenAIExecutor({ ...settings, maxTokens: argv["max-tokens"], timeoutMs: argv["timeout-ms"], concurrency: Math.max(argv.concurrency, 1) * 2 });
  return { executor, label: `${executor.model} at ${withoutCredentials(executor.baseURL)}` };
}

/** The URL as printed: user and password parts (if someone put a key there) are masked. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = "***";
      parsed.password = "";
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

export const evalCommand: CommandModule<object, EvalOptions> = {
  command: "eval",
  describe: "Score a workflow (baseline or file) on a benchmark with an OpenAI-compatible or local GGUF executor",
  builder: (y) =>
    y
      .option("workflow", { type: "string", demandOption: true, describe: `a baseline (${BASELINE_NAMES.join(", ")}) or a file with a workflow` })
      .option("benchmark", { choices: benchmarkNames, demandOption: true })
      .option("split", { choices: ["train", "test"] as const, default: "test" as const })
      .option("limit", { type: "number", describe: "only the first K problems" })
      .option("runs", { type: "number", default: 1, describe: "runs per problem, averaged (the paper uses 3)" })
      .option("data-dir", { type: "string", describe: "folder with the benchmark files (default $SPOGW_DATA_DIR)" })
      .option("executor", { type: "string", describe: "base URL of the OpenAI-compatible API (default $SPOGW_EXECUTOR_URL), or gguf:FILE for a local model in-process" })
      .option("executor-model", { type: "string", describe: "model name sent to the API (default $SPOGW_EXECUTOR_MODEL or gpt-4o-mini)" })
      .option("executor-key", { type: "string", describe: "API key (prefer $SPOGW_EXECUTOR_KEY: flags end up in shell history)" })
      .option("max-tokens", { type: "number", default: 1024, describe: "completion length per executor call" })
      .option("timeout-ms", { type: "number", default: 60_000, describe: "per executor call" })
      .option("concurrency", { type: "number", default: 4, describe: "workflow runs at once" })
      .option("cache", { type: "string", describe: "SQLite file caching executor responses" })
      .option("wall-ms", { type: "number", default: 240_000, describe: "deadline per workflow run" })
      .option("scoring", {
        choices: SCORING_PROTOCOLS,
        default: "rule" as const,
        describe: "rule: rule-based scorers; extract: LLM answer extraction first; judge: extraction + LLM judge (ScoreFlow); the executor is the LLM",
      }),
  handler: async (argv) => {
    if (argv.limit !== undefined && (!Number.isInteger(argv.limit) || argv.limit < 1)) throw new Error(`--limit must be a positive whole number, got ${argv.limit}`);
    const all = await loadBenchmark(argv.benchmark, argv.split, argv["data-dir"] ? { dataDir: argv["data-dir"] } : {});
    const problems = argv.limit === undefined ? all : all.slice(0, argv.limit);
    if (problems.length === 0) throw new Error(`${argv.benchmark} ${argv.split} has no problems`);
    const family = problems[0]!.family;
    const code = await workflowCode(argv.workflow, family);

    const { executor: model, label } = await openExecutor(argv);
    const cache = argv.cache ? new ResponseCache(argv.cache) : undefined;
    const executor: Executor = cache ? new CachingExecutor(model, cache, model.defaultTemperature) : model;
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(`workflow: ${argv.workflow} (${family}); benchmark: ${argv.benchmark} ${argv.split}, ${problems.length} of ${all.length} problems, ${argv.runs} run(s) each`);
    out(`executor: ${label}${cache ? `; cache ${cache.path}` : ""}`);
    try {
      const evaluation = await evaluateWorkflow(code, problems, {
        executor,
        runs: argv.runs,
        concurrency: argv.concurrency,
        limits: { wallMs: argv["wall-ms"] },
        protocol: argv.scoring,
        onRun: (r) => out(`  ${r.problemId} run ${r.run + 1}: score ${r.score.toFixed(3)}  ${r.detail}`),
      });
      const s = executor.stats();
      out(`mean score: ${evaluation.meanScore.toFixed(4)} over ${problems.length} problems`);
      out(`scoring protocol: ${evaluation.protocol}`);
      out(`executor: ${s.calls} calls, ${s.cacheHits} cache hits, ${s.retries} retries, ${s.failures} failed calls, ${s.promptTokens} prompt + ${s.completionTokens} completion tokens, $${s.costUsd.toFixed(4)}`);
    } finally {
      cache?.close();
      await executor.close();
    }
  },
};
