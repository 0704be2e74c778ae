// `spogw-native eval`: scores one workflow (a built-in baseline or a workflow file) on a benchmark with
// an OpenAI-compatible executor, and prints each run, the mean, the scoring protocol and the executor's
// calls, retries, tokens and cost. With `--run RUN` it follows the paper's protocol and keeps the result:
// 3 runs by default, the paper's scoring protocol by default (the LLM judge for MATH, DROP and
// HotpotQA, rule-based elsewhere), the solve rate as mean ± std of the runs, stored in the run's
// database for `table` and `report`; `--iteration K` evaluates the run's generator with adapter K (0 = the base model), which
// writes one workflow per problem (kept, so a second evaluation reuses them).
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { CommandModule } from "yargs";
import { benchmarkNames, loadBenchmark, type BenchmarkName, type Split } from "../../benchmarks/index.js";
import { EmbeddedExecutor, OpenAIExecutor, openAIExecutorOptionsFromEnv, ResponseCache, type Executor } from "../../executor/index.js";
import type { TaskFamily } from "../../benchmarks/problem.js";
import { BASELINE_NAMES, baselineWorkflow, isBaselineName, parseWorkflow, SCORING_PROTOCOLS, type ScoringProtocol } from "../../workflow/index.js";
import {
  evaluationExecutors, formatSolveRate, generateWorkflows, generatorMethod, measureSolveRate, paperScoringProtocol, percent, protocolTag, putEvaluation,
  putEvaluationWorkflows, readEvaluationWorkflows, type ProblemWorkflow,
} from "../../evaluation/index.js";
import { Generator } from "../../generator/index.js";
import { readStoredConfig, RunStore, type RunConfig } from "../../pipeline/index.js";
import type { Problem } from "../../benchmarks/problem.js";

interface EvalOptions {
  workflow?: string;
  run?: string;
  iteration?: number;
  benchmark: BenchmarkName;
  split: Split;
  limit?: number;
  runs?: number;
  "data-dir"?: string;
  executor?: string;
  "executor-model"?: string;
  "executor-key"?: string;
  "max-tokens": number;
  "timeout-ms": number;
  concurrency: number;
  cache?: string;
  "wall-ms": number;
  scoring?: ScoringProtocol;
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

/**
 * The generator's workflow for each problem: those stored by an earlier evaluation are reused; the rest
 * are written now by the run's generator model with adapter `iteration` and stored.
 */
async function generatorWorkflows(
  run: string, config: RunConfig, iteration: number, benchmark: string, split: string, problems: readonly Problem[], method: string, out: (line: string) => void,
): Promise<Map<string, { workflow: string | null; invalidReason: string | null }>> {
  const key = { method, benchmark, split };
  const stored = readEvaluationWorkflows(run, key);
  const missing = problems.filter((p) => !stored.has(p.id));
  if (missing.length > 0) {
    const adapter = adapterOf(run, iteration);
    out(`generator: ${config.generator}${adapter ? ` + adapter ${adapter}` : " (base model, no adapter)"}; writing ${missing.length} workflow(s)${stored.size ? `, ${problems.length - missing.length} reused` : ""}`);
    const generator = await Generator.load({ modelPath: config.generator, threads: config.generatorThreads, sequences: 1, ...(adapter ? { adapter: { path: adapter } } : {}) });
    try {
      const written = await generateWorkflows(generator, missing, {
        temperature: config.temperature, topP: config.topP, maxTokens: config.maxTokens, maxAttempts: config.maxAttempts, seed: config.seed,
      }, (w) => out(`  ${w.problemId}: ${w.workflow === null ? `invalid after ${w.attempts} attempt(s): ${w.invalidReason}` : `workflow written (attempt ${w.attempts})`}`));
      putEvaluationWorkflows(run, key, written);
      for (const w of written) stored.set(w.problemId, w);
    } finally {
      await generator.dispose();
    }
  } else {
    out(`generator: reusing the ${problems.length} workflow(s) written by an earlier evaluation of ${method}`);
  }
  return stored;
}

/** The GGUF adapter that iteration `iteration` samples from (null for 0, the base model). */
function adapterOf(run: string, iteration: number): string | null {
  if (iteration === 0) return null;
  const store = RunStore.open(run);
  try {
    const record = store.adapter(iteration);
    if (!record) {
      const have = store.adapters().map((a) => a.iteration);
      throw new Error(`${run} has no adapter ${iteration} (adapters stored: ${have.length ? have.join(", ") : "none"}; 0 = the base model)`);
    }
    return join(run, record.gguf);
  } finally {
    store.close();
  }
}

export const evalCommand: CommandModule<object, EvalOptions> = {
  command: "eval",
  describe: "Score a workflow (baseline or file) on a benchmark with an OpenAI-compatible or local GGUF executor",
  builder: (y) =>
    y
      .option("workflow", { type: "string", describe: `a baseline (${BASELINE_NAMES.join(", ")}) or a file with a workflow` })
      .option("run", { type: "string", describe: "run directory: store the solve rate there (for table and report); 3 runs per problem by default" })
      .option("iteration", { type: "number", describe: "with --run: evaluate the run's generator with adapter K (0 = base model), one generated workflow per problem" })
      .option("benchmark", { choices: benchmarkNames, demandOption: true })
      .option("split", { choices: ["train", "test"] as const, default: "test" as const })
      .option("limit", { type: "number", describe: "only the first K problems" })
      .option("runs", { type: "number", describe: "runs per problem, averaged (default 3 with --run, the paper's protocol; else 1)" })
      .option("data-dir", { type: "string", describe: "folder with the benchmark files (default $SPOGW_DATA_DIR)" })
      .option("executor", { type: "string", describe: "base URL of the OpenAI-compatible API (default $SPOGW_EXECUTOR_URL), or gguf:FILE for a local model in-process" })
      .option("executor-model", { type: "string", describe: "model name sent to the API (default $SPOGW_EXECUTOR_MODEL or gpt-4o-mini)" })
      .option("executor-key", { type: "string", describe: "API key (prefer $SPOGW_EXECUTOR_KEY: flags end up in shell history)" })
      .option("max-tokens", { type: "number", default: 1024, describe: "completion length per executor call" })
      .option("timeout-ms", { type: "number", default: 60_000, describe: "per executor call" })
      .option("concurrency", { type: "number", default: 4, describe: "workflow runs at once" })
      .option("cache", { type: "string", describe: "SQLite file caching executor responses (default with --run: RUN/eval-cache.sqlite)" })
      .option("wall-ms", { type: "number", default: 240_000, describe: "deadline per workflow run" })
      .option("scoring", {
        choices: SCORING_PROTOCOLS,
        describe: "rule: rule-based scorers; extract: LLM answer extraction first; judge: extraction + LLM judge (ScoreFlow); the executor is the LLM " +
          "[default with --run: the paper's, judge for math, drop and hotpotqa, rule elsewhere; without --run: rule]",
      }),
  handler: async (argv) => {
    if (argv.limit !== undefined && (!Number.isInteger(argv.limit) || argv.limit < 1)) throw new Error(`--limit must be a positive whole number, got ${argv.limit}`);
    if ((argv.workflow === undefined) === (argv.iteration === undefined)) {
      throw new Error("name one thing to evaluate: --workflow BASELINE|FILE, or --run RUN --iteration K (the run's generator with adapter K; 0 = base model)");
    }
    if (argv.iteration !== undefined && (!Number.isInteger(argv.iteration) || argv.iteration < 0)) throw new Error(`--iteration must be a whole number >= 0, got ${argv.iteration}`);
    if (argv.iteration !== undefined && argv.run === undefined) throw new Error("--iteration needs --run RUN: the run whose generator and adapter to evaluate");
    const runs = argv.runs ?? (argv.run === undefined ? 1 : 3);
    const scoring = argv.scoring ?? (argv.run === undefined ? "rule" : paperScoringProtocol(argv.benchmark));
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive whole number, got ${runs}`);
    // A bad run directory stops here, before any model is loaded or any call is made.
    const runConfig = argv.run === undefined ? undefined : readStoredConfig(argv.run);
    const all = await loadBenchmark(argv.benchmark, argv.split, argv["data-dir"] ? { dataDir: argv["data-dir"] } : {});
    const problems = argv.limit === undefined ? all : all.slice(0, argv.limit);
    if (problems.length === 0) throw new Error(`${argv.benchmark} ${argv.split} has no problems`);
    const family = problems[0]!.family;
    const out = (line: string) => process.stdout.write(`${line}\n`);

    let method: string;
    let workflowFor: (problem: Problem) => ProblemWorkflow;
    if (argv.workflow !== undefined) {
      const code = await workflowCode(argv.workflow, family);
      method = isBaselineName(argv.workflow) ? argv.workflow : `file:${basename(argv.workflow)}`;
      workflowFor = () => ({ code });
      out(`workflow: ${argv.workflow} (${family}); benchmark: ${argv.benchmark} ${argv.split}, ${problems.length} of ${all.length} problems, ${runs} run(s) each`);
    } else {
      method = generatorMethod(argv.iteration!);
      const workflows = await generatorWorkflows(argv.run!, runConfig!, argv.iteration!, argv.benchmark, argv.split, problems, method, out);
      workflowFor = (problem) => {
        const w = workflows.get(problem.id)!;
        return w.workflow === null ? { invalidReason: w.invalidReason ?? "no valid workflow" } : { code: w.workflow };
      };
      out(`workflows: one per problem from the generator (${method}); benchmark: ${argv.benchmark} ${argv.split}, ${problems.length} of ${all.length} problems, ${runs} run(s) each`);
    }

    const { executor: model, label } = await openExecutor(argv);
    const cachePath = argv.cache ?? (argv.run === undefined ? undefined : join(argv.run, "eval-cache.sqlite"));
    const cache = cachePath ? new ResponseCache(cachePath) : undefined;
    // With a cache, each run has its own cache namespace: three real executions the first time, all from the cache the next.
    const executors = evaluationExecutors(model, cache, model.defaultTemperature);
    out(`executor: ${label}${cache ? `; cache ${cache.path}` : ""}`);
    const tag = `[scoring: ${protocolTag(scoring)}]`;
    try {
      const result = await measureSolveRate(problems, workflowFor, {
        executor: executors.forRun(0),
        executorForRun: (run) => executors.forRun(run),
        runs,
        concurrency: argv.concurrency,
        limits: { wallMs: argv["wall-ms"] },
        protocol: scoring,
        onRun: (r) => out(`  ${r.problemId} run ${r.run + 1}: score ${r.score.toFixed(3)}  ${r.detail} ${tag}`),
      });
      const s = executors.stats();
      out(`mean score: ${result.solveRate.toFixed(4)} over ${problems.length} problems`);
      out(`solve rate: ${formatSolveRate(result.solveRate, result.std)} % (mean ± std over ${runs} run(s): ${result.runSolveRates.map(percent).join(", ")}) ${tag}`);
      out(`scoring protocol: ${result.protocolDescription}`);
      out(`executor: ${s.calls} calls, ${s.cacheHits} cache hits, ${s.retries} retries, ${s.failures} failed calls, ${s.promptTokens} prompt + ${s.completionTokens} completion tokens, $${s.costUsd.toFixed(4)}`);
      if (argv.run !== undefined) {
        putEvaluation(argv.run, {
          method, benchmark: argv.benchmark, split: argv.split, problems: problems.length, protocol: scoring, protocolDescription: result.protocolDescription,
          runSolveRates: result.runSolveRates, solveRate: result.solveRate, std: result.std, executor: label, evaluatedAt: new Date().toISOString(),
        });
        out(`stored in ${argv.run}: ${method} on ${argv.benchmark} ${argv.split} (${problems.length} problems, ${protocolTag(scoring)})`);
      }
    } finally {
      await executors.close();
      cache?.close();
    }
  },
};
