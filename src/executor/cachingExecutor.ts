// Wraps any executor with the persistent response cache: a request seen before (same model, messages
// and parameters) is answered from the cache without calling the model; identical requests in flight
// at the same time share one call. A caller that gives up (its workflow hit its deadline) stops
// waiting at once, but the shared call is cancelled only when every caller has given up.
import { requestCacheKey } from "./cacheKey.js";
import type { ResponseCache } from "./responseCache.js";
import { ExecutorError, type CallOptions, type CompletionRequest, type CompletionResult, type Executor, type ExecutorStats } from "./types.js";

interface SharedCall {
  result: Promise<CompletionResult>;
  controller: AbortController;
  waiting: number;
}

export class CachingExecutor implements Executor {
  private readonly inFlight = new Map<string, SharedCall>();
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
    let shared = this.inFlight.get(key);
    const joined = shared !== undefined;
    if (shared) this.hits++;
    else shared = this.startCall(key, request);
    shared.waiting++;
    try {
      const result = await waitUnlessAborted(shared.result, options.signal);
      return joined ? { ...result, cached: true } : result;
    } finally {
      shared.waiting--;
      if (shared.waiting === 0 && options.signal?.aborted) shared.controller.abort();
    }
  }

  stats(): ExecutorStats {
    return { ...this.inner.stats(), cacheHits: this.hits };
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  private startCall(key: string, request: CompletionRequest): SharedCall {
    const controller = new AbortController();
    const result = this.inner.complete(request, { signal: controller.signal }).then((answer) => {
      this.cache.put(key, answer);
      return answer;
    });
    const shared: SharedCall = { result, controller, waiting: 0 };
    this.inFlight.set(key, shared);
    // Leave the in-flight table however the call ends; the result itself goes to the waiters.
    result.then(
      () => this.inFlight.delete(key),
      () => this.inFlight.delete(key),
    );
    return shared;
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (the promise itself keeps running). */
function waitUnlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new ExecutorError("the call was cancelled", "aborted"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ExecutorError("the call was cancelled", "aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
