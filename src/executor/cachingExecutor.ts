// Wraps any executor with the persistent response cache: a request seen before (same model, messages
// and parameters) is answered from the cache without calling the model; identical requests in flight
// at the same time share one call.
import { requestCacheKey } from "./cacheKey.js";
import type { ResponseCache } from "./responseCache.js";
import type { CallOptions, CompletionRequest, CompletionResult, Executor, ExecutorStats } from "./types.js";

export class CachingExecutor implements Executor {
  private readonly inFlight = new Map<string, Promise<CompletionResult>>();
  private hits = 0;

  constructor(
    private readonly inner: Executor,
    private readonly cache: ResponseCache,
    /** The inner executor's default temperature, so that "absent" and that value share an entry. */
    private readonly defaultTemperature = 0,
  ) {}

  get model(): string {
    return this.inner.model;
  }

  async complete(request: CompletionRequest, options: CallOptions = {}): Promise<CompletionResult> {
    const key = requestCacheKey(this.inner.model, request, this.defaultTemperature);
    const stored = this.cache.get(key);
    if (stored) {
      this.hits++;
      return { ...stored, cached: true };
    }
    const shared = this.inFlight.get(key);
    if (shared) {
      this.hits++;
      return { ...(await shared), cached: true };
    }
    const call = this.inner.complete(request, options).then((result) => {
      this.cache.put(key, result);
      return result;
    });
    this.inFlight.set(key, call);
    try {
      return await call;
    } finally {
      this.inFlight.delete(key);
    }
  }

  stats(): ExecutorStats {
    return { ...this.inner.stats(), cacheHits: this.hits };
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
