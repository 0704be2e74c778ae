// The offline demo: the whole SPOGW loop on a tiny generated model and the simulated task family, small
// enough to finish in well under a minute on two CPU cores. Nothing is downloaded; no API key is used.
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { writeTinyModel } from "../gguf/index.js";
import { resolveConfig, type RunConfig } from "./config.js";
import type { ProgressListener } from "./context.js";
import { createSimulatedTask } from "./simulatedTask.js";
import { openRun } from "./openRun.js";
import { runTrain, type TrainSummary } from "./trainLoop.js";

/** The demo's generator: a 2-layer llama, embd 64, vocab 275 (about 0.1M parameters). */
export const DEMO_MODEL = { arch: "llama", seed: 7, kvHeads: 2 } as const;

/**
 * Demo settings: the paper's loop and objective (beta 0.1, mKL, previous-checkpoint reference, 3
 * iterations, 3 score runs, sharpening to 2t) at a scale a tiny model learns from in about a minute:
 * 24 queries, m = 8, n = 6, t = 2, N = 300, grammar-constrained workflows of at most 4 steps (so each step weighs); 2 epochs of 8-group steps at
 * a learning rate suited to a randomly initialised 0.1M-parameter model, and a higher upper clip range
 * (0.28, "clip-higher") so that probabilities can rise enough in three iterations.
 */
export const DEMO_SETTINGS: Partial<RunConfig> = {
  task: "simulated",
  simulatedQueries: 24,
  samplesPerQuery: 8,
  groupSize: 6,
  keep: 2,
  topN: 300,
  maxTokens: 48, // four steps of at most "ensemble\n" plus the end-of-generation token, with room to spare
  epochs: 2,
  groupsPerStep: 8,
  learningRate: 5e-3,
  epsilonHigh: 0.28,
  engineThreads: 1,
  generatorThreads: 1,
};

export interface DemoOptions {
  /** Overrides of the demo settings (e.g. seed, iterations). */
  settings?: Partial<RunConfig>;
  onProgress?: ProgressListener;
}

/** Runs (or resumes) the demo in run directory `dir`; the tiny model is written there first. */
export async function runDemo(dir: string, options: DemoOptions = {}): Promise<TrainSummary> {
  mkdirSync(dir, { recursive: true });
  const model = join(dir, "demo-model.gguf");
  if (!existsSync(model)) {
    // Written beside and renamed, so a killed demo never leaves a partial model behind.
    await writeTinyModel(`${model}.partial`, DEMO_MODEL);
    renameSync(`${model}.partial`, model);
  }
  const config = resolveConfig(DEMO_SETTINGS, { generator: model }, options.settings ?? {});
  const ctx = openRun(dir, config, createSimulatedTask({ queries: config.simulatedQueries, seed: config.seed, latencyMs: config.simulatedLatencyMs }), options.onProgress ? { onProgress: options.onProgress } : {});
  try {
    return await runTrain(ctx);
  } finally {
    await ctx.close();
  }
}
