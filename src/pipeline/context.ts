// What every phase works with: the run's store, its configuration and task, the models (loaded on
// first use and kept for the run), and where progress goes.
import { join } from "node:path";
import { SeededRandom } from "../util/seededRandom.js";
import { Generator } from "../generator/index.js";
import { hostFacts } from "../native/platform.js";
import { Engine } from "../train/index.js";
import type { RunConfig } from "./config.js";
import type { RunStore } from "./runStore.js";
import type { WorkflowTask } from "./task.js";

/** generatorGpu "auto": node-llama-cpp's CUDA build where an NVIDIA driver is loaded; "off": its CPU build. */
export function generatorUsesGpu(setting: RunConfig["generatorGpu"]): boolean {
  return setting === "auto" && hostFacts().nvidiaDriver !== null;
}

export type ProgressPhase = "generate" | "execute" | "logprobs" | "update";

export interface ProgressEvent {
  iteration: number;
  phase: ProgressPhase;
  /** Units done so far, including those found done in the store when the phase started. */
  done: number;
  total: number;
  /** Units counted: "workflows", "executions", "responses", "steps". */
  unit: string;
  /** Units that were already done when this invocation started (they do not count towards the rate). */
  resumedFrom: number;
}

export type ProgressListener = (event: ProgressEvent) => void;

export class RunContext {
  private generator: Generator | undefined;
  private generatorAdapter: string | null = null;
  private engine: Engine | undefined;

  constructor(
    readonly store: RunStore,
    readonly config: RunConfig,
    readonly task: WorkflowTask,
    private readonly onProgress: ProgressListener = () => {},
    /** Releases the run's lock (see runLock.ts). */
    private readonly unlock: () => void = () => {},
  ) {}

  progress(event: ProgressEvent): void {
    this.onProgress(event);
  }

  /** Absolute path of a file named relative to the run directory. */
  path(relative: string): string {
    return join(this.store.dir, relative);
  }

  /**
   * The generator with the adapter that samples iteration `iteration` (none for iteration 0). The
   * training engine is released first: phases alternate, so only one copy of the model's weights is
   * held at a time.
   */
  async generatorFor(iteration: number): Promise<Generator> {
    const adapter = this.adapterPath(iteration);
    this.releaseEngine();
    if (!this.generator) {
      this.generator = await Generator.load({
        modelPath: this.config.generator,
        threads: this.config.generatorThreads,
        sequences: this.config.generatorSequences,
        exactKvCache: this.config.exactSampling,
        gpu: generatorUsesGpu(this.config.generatorGpu),
        ...(adapter ? { adapter: { path: adapter } } : {}),
      });
    } else if (this.generatorAdapter !== adapter) {
      await this.generator.setAdapter(adapter ? { path: adapter } : undefined);
    }
    this.generatorAdapter = adapter;
    // Which arithmetic sampled this iteration's workflows: the CPU build's probabilities are the engine's.
    this.store.setMeta(`samplerArithmetic.${iteration}`, this.generator.samplerArithmetic);
    return this.generator;
  }

  /** The training engine (the generator is released first, see generatorFor). */
  async trainingEngine(): Promise<Engine> {
    await this.releaseGenerator();
    this.engine ??= await Engine.load(this.config.generator, { threads: this.config.engineThreads, device: this.config.engineDevice });
    return this.engine;
  }

  private releaseEngine(): void {
    this.engine?.dispose();
    this.engine = undefined;
  }

  private async releaseGenerator(): Promise<void> {
    await this.generator?.dispose();
    this.generator = undefined;
    this.generatorAdapter = null;
  }

  /** The GGUF adapter that samples iteration `iteration`, or null for the base model (see RunStore.adapterPath). */
  adapterPath(iteration: number): string | null {
    return this.store.adapterPath(iteration);
  }

  /** A reproducible 31-bit seed for one purpose of this run (e.g. "sample:2:q17:0"). */
  seedFor(purpose: string): number {
    return Math.floor(new SeededRandom(this.config.seed, purpose).next() * 2 ** 31);
  }

  async close(): Promise<void> {
    this.releaseEngine();
    await this.releaseGenerator();
    await this.task.close();
    this.store.close();
    this.unlock();
  }
}
