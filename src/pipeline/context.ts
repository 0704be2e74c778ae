// What every phase works with: the run's store, its configuration and task, the models (loaded on
// first use and kept for the run), and where progress goes.
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { SeededRandom } from "../util/seededRandom.js";
import { Generator, type Completion, type SampleOptions } from "../generator/index.js";
import { GENERATOR_KEY_ENV, RemoteGenerator } from "../generator/remoteGenerator.js";
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

/** Receives what the user should act on as soon as a phase finds it (e.g. an iteration with nothing to learn). */
export type WarningListener = (message: string) => void;

/** What samples one iteration's workflows: the in-process generator or a generator server, with its adapter. */
export interface IterationSampler {
  /** Recorded with every sample: "local:base", "local:<adapter file>", or the model name the server was asked for. */
  readonly name: string;
  /** Queries worth sampling at once (1 in-process: the generator samples one call at a time). */
  readonly parallelCalls: number;
  sample(prompt: string | readonly number[], options: SampleOptions): Promise<Array<Completion & { logprobs?: number[] | null }>>;
}

export class RunContext {
  private generator: Generator | undefined;
  private generatorAdapter: string | null = null;
  private remote: RemoteGenerator | undefined;
  private engine: Engine | undefined;

  constructor(
    readonly store: RunStore,
    readonly config: RunConfig,
    readonly task: WorkflowTask,
    private readonly onProgress: ProgressListener = () => {},
    /** Releases the run's lock (see runLock.ts). */
    private readonly unlock: () => void = () => {},
    private readonly onWarning: WarningListener = () => {},
  ) {}

  progress(event: ProgressEvent): void {
    this.onProgress(event);
  }

  warn(message: string): void {
    this.onWarning(message);
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

  /**
   * What samples iteration `iteration`: the in-process generator (generatorFor), or with generatorUrl
   * the generator server with adapter `iteration` loaded under this run's name for it (the previous
   * iteration's adapter is unloaded). Connecting checks the server's model against the GGUF.
   */
  async samplerFor(iteration: number): Promise<IterationSampler> {
    if (this.config.generatorUrl === null) {
      const generator = await this.generatorFor(iteration);
      const adapter = this.store.adapter(iteration);
      return { name: `local:${adapter ? adapter.gguf : "base"}`, parallelCalls: 1, sample: (prompt, options) => generator.sample(prompt, options) };
    }
    const remote = await this.remoteGenerator();
    let model = remote.baseModel;
    if (iteration > 0) {
      this.adapterPath(iteration); // throws, naming the update that writes it, when it is not there yet
      model = this.remoteAdapterName(iteration);
      const peft = this.store.adapter(iteration)!.peft;
      await remote.loadAdapter(model, join(this.config.generatorRunDir ?? resolve(this.store.dir), peft));
    }
    if (iteration > 1) await remote.unloadAdapter(this.remoteAdapterName(iteration - 1));
    return { name: model, parallelCalls: this.config.generatorConcurrency, sample: (prompt, options) => remote.sample(model, prompt, options) };
  }

  /**
   * Called when iteration `iteration` has all its samples: after the run's last collect, the generator
   * server's copy of the last adapter is no longer needed and is unloaded (a shared server keeps nothing of a finished run).
   */
  async samplingDone(iteration: number): Promise<void> {
    if (this.config.generatorUrl === null || iteration !== this.config.iterations || iteration === 0) return;
    await (await this.remoteGenerator()).unloadAdapter(this.remoteAdapterName(iteration));
  }

  /** The name adapter `iteration` has on a generator server: unique to this run, so runs can share a server. */
  remoteAdapterName(iteration: number): string {
    let id = this.store.getMeta("run_id");
    if (id === undefined) {
      id = randomBytes(6).toString("hex");
      this.store.setMeta("run_id", id);
    }
    return `spogw-${id}-iter-${iteration}`;
  }

  private async remoteGenerator(): Promise<RemoteGenerator> {
    this.releaseEngine();
    const apiKey = process.env[GENERATOR_KEY_ENV];
    this.remote ??= await RemoteGenerator.connect({
      baseURL: this.config.generatorUrl!,
      modelPath: this.config.generator,
      concurrency: this.config.generatorConcurrency,
      retry: { timeoutMs: this.config.generatorTimeoutMs, maxRetries: this.config.generatorRetries },
      ...(this.config.generatorModel !== null ? { model: this.config.generatorModel } : {}),
      ...(apiKey ? { apiKey } : {}),
    });
    return this.remote;
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
    await this.remote?.close();
    this.remote = undefined;
    await this.task.close();
    this.store.close();
    this.unlock();
  }
}
