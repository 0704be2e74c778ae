// Which workflow each problem is evaluated with, and the method name the solve rate is stored under:
// one fixed workflow for every problem (a baseline, or a program from a file), or one workflow per
// problem written by a training run's generator with one of its adapters. A generator's workflows are
// kept in the run, so a second evaluation reuses them instead of sampling again.
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Problem, TaskFamily } from "../benchmarks/problem.js";
import { Generator } from "../generator/index.js";
import type { RunConfig } from "../pipeline/config.js";
import { RunStore } from "../pipeline/runStore.js";
import { BASELINE_NAMES, baselineWorkflow, isBaselineName } from "../workflow/baselines.js";
import { parseWorkflow } from "../workflow/parse/parseWorkflow.js";
import { generatorMethod, putEvaluationWorkflows, readEvaluationWorkflows, type StoredWorkflow } from "./evaluationStore.js";
import { generateWorkflows, type GeneratedWorkflow } from "./generatedWorkflows.js";
import type { ProblemWorkflow } from "./solveRate.js";

/** A baseline by name, or a workflow program from a file (checked for shape and banned constructs). */
export async function fixedWorkflow(spec: string, family: TaskFamily): Promise<{ method: string; code: string }> {
  if (isBaselineName(spec)) return { method: spec, code: baselineWorkflow(spec, family) };
  const text = await readFile(spec, "utf8").catch(() => {
    throw new Error(`workflow ${spec}: neither a baseline (${BASELINE_NAMES.join(", ")}) nor a readable file`);
  });
  const parsed = parseWorkflow(text, family, { minCalls: 1, maxCalls: 100, maxTemplateSimilarity: 1.01 });
  if (!parsed.ok) throw new Error(`workflow ${spec}: ${parsed.reason}`);
  return { method: `file:${basename(spec)}`, code: parsed.code };
}

/** What generatorWorkflows is about to do, said before a model is loaded. */
export interface GeneratorWorkflowsPlan {
  /** generatorMethod(iteration): the name the workflows and solve rate are stored under. */
  method: string;
  generator: string;
  /** null: the base model. */
  adapter: string | null;
  /** Workflows to write now. */
  writing: number;
  /** Workflows an earlier evaluation stored. */
  reused: number;
}

export interface GeneratorWorkflowsEvents {
  onPlan?: (plan: GeneratorWorkflowsPlan) => void;
  onWorkflow?: (written: GeneratedWorkflow) => void;
}

/**
 * The workflow of each problem from run `run`'s generator with adapter `iteration` (0 = the base
 * model), sampled with the run's settings: those stored by an earlier evaluation are reused, the rest
 * are written now and stored. `config` is the run's (readStoredConfig).
 */
export async function generatorWorkflows(
  run: string, config: RunConfig, iteration: number, on: { benchmark: string; split: string }, problems: readonly Problem[], events: GeneratorWorkflowsEvents = {},
): Promise<Map<string, ProblemWorkflow>> {
  const key = { method: generatorMethod(iteration), benchmark: on.benchmark, split: on.split };
  const stored = readEvaluationWorkflows(run, key);
  const missing = problems.filter((p) => !stored.has(p.id));
  const adapter = missing.length > 0 ? adapterOf(run, iteration) : null;
  events.onPlan?.({ method: key.method, generator: config.generator, adapter, writing: missing.length, reused: problems.length - missing.length });
  if (missing.length > 0) {
    const generator = await Generator.load({ modelPath: config.generator, threads: config.generatorThreads, sequences: 1, ...(adapter ? { adapter: { path: adapter } } : {}) });
    try {
      const settings = { temperature: config.temperature, topP: config.topP, maxTokens: config.maxTokens, maxAttempts: config.maxAttempts, seed: config.seed };
      const written = await generateWorkflows(generator, missing, settings, events.onWorkflow);
      putEvaluationWorkflows(run, key, written);
      for (const w of written) stored.set(w.problemId, w);
    } finally {
      await generator.dispose();
    }
  }
  return new Map(problems.map((p) => [p.id, problemWorkflow(stored.get(p.id)!)]));
}

function adapterOf(run: string, iteration: number): string | null {
  const store = RunStore.open(run);
  try {
    return store.adapterPath(iteration);
  } finally {
    store.close();
  }
}

function problemWorkflow(w: StoredWorkflow): ProblemWorkflow {
  return w.workflow === null ? { invalidReason: w.invalidReason ?? "no valid workflow" } : { code: w.workflow };
}
