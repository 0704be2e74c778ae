// The executor of each execution run. The paper's protocol runs every workflow 3 times against a live
// API; with a response cache keyed by the request alone, runs 2 and 3 would only replay run 1. So each
// run gets its own cache namespace (the model name tagged with the run, for the cache key only): every
// run makes its own calls the first time, and a repeated evaluation finds all of them in the cache.
import { CachingExecutor } from "./cachingExecutor.js";
import type { ResponseCache } from "./responseCache.js";
import type { CallOptions, CompletionRequest, CompletionResult, Executor, ExecutorStats } from "./types.js";

/** The model as the cache sees it in run `run` (run 0 keeps the plain name, as a single-run evaluation does). */
export function runCacheModel(model: string, run: number): string {
  return run === 0 ? model : `${model} #evaluation-run-${run + 1}`;
}

class RunTaggedExecutor implements Executor {
  constructor(
    private readonly inner: Executor,
    private readonly run: number,
  ) {}

  get model(): string {
    return runCacheModel(this.inner.model, this.run);
  }

  complete(request: CompletionRequest, options?: CallOptions): Promise<CompletionResult> {
    return this.inner.complete(request, options);
  }

  stats(): ExecutorStats {
    return this.inner.stats();
  }

  /** The shared model is closed once, by its owner. */
  async close(): Promise<void> {}
}

export interface EvaluationExecutors {
  forRun(run: number): Executor;
  /** Calls that reached the model, and cache hits over all runs. */
  stats(): ExecutorStats;
  close(): Promise<void>;
}

/** One executor per run over `model`, each caching in its own namespace of `cache` (none: the model itself for every run). */
export function evaluationExecutors(model: Executor, cache: ResponseCache | undefined, defaultTemperature: number): EvaluationExecutors {
  const perRun = new Map<number, CachingExecutor>();
  return {
    forRun(run) {
      if (!cache) return model;
      let executor = perRun.get(run);
      if (!executor) {
        executor = new CachingExecutor(new RunTaggedExecutor(model, run), cache, defaultTemperature);
        perRun.set(run, executor);
      }
      return executor;
    },
    stats() {
      const hits = [...perRun.values()].reduce((sum, e) => sum + e.stats().cacheHits, 0);
      return { ...model.stats(), cacheHits: hits };
    },
    async close() {
      await model.close();
    },
  };
}
