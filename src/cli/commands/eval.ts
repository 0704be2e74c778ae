// `spogw-native eval`: scores one workflow (a built-in baseline or a workflow file) on a benchmark with
// an OpenAI-compatible executor, and prints each run, the mean, the scoring protocol and the executor's
// calls, retries, tokens and cost. With `--run RUN` it follows the paper's protocol and keeps the result:
// 3 runs by default, the solve rate as mean ± std of the runs, stored in the run's database for `table`
// and `report`; `--iteration K` evaluates the run's generator with adapter K (0 = the base model), which
// writes one workflow per problem (kept, so a second evaluation reuses them).
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { benchmarkNames, loadBenchmark, type BenchmarkName, type Problem, type Split } from "../../benchmarks/index.js";
import { openExecutor, ResponseCache } from "../../executor/index.js";
import { BASELINE_NAMES, SCORING_PROTOCOLS, type ScoringProtocol } from "../../workflow/index.js";
import {
  EVALUATION_CACHE, evaluationExecutors, fixedWorkflow, formatSolveRate, generatorMethod, generatorWorkflows, measureSolveRate, percent, protocolTag,
  putEvaluation, type ProblemWorkflow,
} from "../../evaluation/index.js";
import { readStoredConfig } from "../../pipeline/index.js";

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
  scoring: ScoringProtocol;
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
      .option("cache", { type: "string", describe: `SQLite file caching executor responses (default with --run: RUN/${EVALUATION_CACHE})` })
      .option("wall-ms", { type: "number", default: 240_000, describe: "deadline per workflow run" })
      .option("scoring", {
        choices: SCORING_PROTOCOLS,
        default: "rule" as const,
        describe: "rule: rule-based scorers; extract: LLM answer extraction first; judge: extraction + LLM judge (ScoreFlow); the executor is the LLM",
      }),
  handler: async (argv) => {
    if (argv.limit !== undefined && (!Number.isInteger(argv.limit) || argv.limit < 1)) throw new Error(`--limit must be a positive whole number, got ${argv.limit}`);
    if ((argv.workflow === undefined) === (argv.iteration === undefined)) {
      throw new Error("name one thing to evaluate: --workflow BASELINE|FILE, or --run RUN --iteration K (the run's generator with adapter K; 0 = base model)");
    }
    if (argv.iteration !== undefined && (!Number.isInteger(argv.iteration) || argv.iteration < 0)) throw new Error(`--iteration must be a whole number >= 0, got ${argv.iteration}`);
    if (argv.iteration !== undefined && argv.run === undefined) throw new Error("--iteration needs --run RUN: the run whose generator and adapter to evaluate");
    const runs = argv.runs ?? (argv.run === undefined ? 1 : 3);
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
      const fixed = await fixedWorkflow(argv.workflow, family);
      method = fixed.method;
      workflowFor = () => ({ code: fixed.code });
      out(`workflow: ${argv.workflow} (${family}); benchmark: ${argv.benchmark} ${argv.split}, ${problems.length} of ${all.length} problems, ${runs} run(s) each`);
    } else {
      method = generatorMethod(argv.iteration!);
      const workflows = await generatorWorkflows(argv.run!, runConfig!, argv.iteration!, { benchmark: argv.benchmark, split: argv.split }, problems, {
        onPlan: (plan) =>
          out(plan.writing === 0
            ? `generator: reusing the ${plan.reused} workflow(s) written by an earlier evaluation of ${plan.method}`
            : `generator: ${plan.generator}${plan.adapter ? ` + adapter ${plan.adapter}` : " (base model, no adapter)"}; writing ${plan.writing} workflow(s)${plan.reused ? `, ${plan.reused} reused` : ""}`),
        onWorkflow: (w) => out(`  ${w.problemId}: ${w.workflow === null ? `invalid after ${w.attempts} attempt(s): ${w.invalidReason}` : `workflow written (attempt ${w.attempts})`}`),
      });
      workflowFor = (problem) => workflows.get(problem.id)!;
      out(`workflows: one per problem from the generator (${method}); benchmark: ${argv.benchmark} ${argv.split}, ${problems.length} of ${all.length} problems, ${runs} run(s) each`);
    }

    const { executor: model, label } = await openExecutor({
      executor: argv.executor, model: argv["executor-model"], apiKey: argv["executor-key"], maxTokens: argv["max-tokens"], timeoutMs: argv["timeout-ms"], concurrency: argv.concurrency,
    });
    const cachePath = argv.cache ?? (argv.run === undefined ? undefined : join(argv.run, EVALUATION_CACHE));
    const cache = cachePath ? new ResponseCache(cachePath) : undefined;
    // With a cache, each run has its own cache namespace: three real executions the first time, all from the cache the next.
    const executors = evaluationExecutors(model, cache, model.defaultTemperature);
    out(`executor: ${label}${cache ? `; cache ${cache.path}` : ""}`);
    const tag = `[scoring: ${protocolTag(argv.scoring)}]`;
    try {
      const result = await measureSolveRate(problems, workflowFor, {
        executor: executors.forRun(0),
        executorForRun: (run) => executors.forRun(run),
        runs,
        concurrency: argv.concurrency,
        limits: { wallMs: argv["wall-ms"] },
        protocol: argv.scoring,
        onRun: (r) => out(`  ${r.problemId} run ${r.run + 1}: score ${r.score.toFixed(3)}  ${r.detail} ${tag}`),
      });
      const s = executors.stats();
      out(`mean score: ${result.solveRate.toFixed(4)} over ${problems.length} problems`);
      out(`solve rate: ${formatSolveRate(result.solveRate, result.std)} % (mean ± std over ${runs} run(s): ${result.runSolveRates.map(percent).join(", ")}) ${tag}`);
      out(`scoring protocol: ${result.protocolDescription}`);
      out(`executor: ${s.calls} calls, ${s.cacheHits} cache hits, ${s.retries} retries, ${s.failures} failed calls, ${s.promptTokens} prompt + ${s.completionTokens} completion tokens, $${s.costUsd.toFixed(4)}`);
      if (argv.run !== undefined) {
        putEvaluation(argv.run, {
          method, benchmark: argv.benchmark, split: argv.split, problems: problems.length, protocol: argv.scoring, protocolDescription: result.protocolDescription,
          runSolveRates: result.runSolveRates, solveRate: result.solveRate, std: result.std, executor: label, evaluatedAt: new Date().toISOString(),
        });
        out(`stored in ${argv.run}: ${method} on ${argv.benchmark} ${argv.split} (${problems.length} problems, ${protocolTag(argv.scoring)})`);
      }
    } finally {
      await executors.close();
      cache?.close();
    }
  },
};
