// Calls to a remote OpenAI-compatible server (an executor, a generator server) through the `openai`
// client: the one set of rules for timeouts, retries and failure reports. An attempt that times out,
// meets a network error, a malformed answer or HTTP 408/409/429/5xx is retried after an exponential
// backoff with jitter (at least the server's Retry-After, both capped); any other failure is reported
// at once. Errors are one line a user can act on and never carry the API key (it lives only in the
// client's request headers).
import OpenAI from "openai";

export type RemoteFailureReason = "timeout" | "aborted" | "http" | "network" | "bad-response" | "config";

/** A failure of a remote call that was not recovered; `reason` is short and safe to record. */
export class RemoteCallError extends Error {
  constructor(
    message: string,
    readonly reason: RemoteFailureReason,
    readonly status?: number,
  ) {
    super(message);
    this.name = "RemoteCallError";
  }
}

export interface RetryRules {
  /** Per attempt, in milliseconds. */
  timeoutMs: number;
  /** Attempts after the first. */
  maxRetries: number;
  /** First backoff in milliseconds; doubles each retry, with jitter. */
  backoffMs: number;
  /** Longest single backoff, also the cap on a server's Retry-After. */
  maxBackoffMs: number;
}

export const DEFAULT_RETRY_RULES: RetryRules = { timeoutMs: 60_000, maxRetries: 4, backoffMs: 500, maxBackoffMs: 20_000 };

/** Running totals a caller may keep: attempts made, retries, and calls that failed for good. */
export interface CallCounters {
  calls: number;
  retries: number;
  failures: number;
}

/**
 * Runs `attempt` until it succeeds or fails in a way the rules do not retry (then throws a
 * RemoteCallError whose message says how many attempts were made). `attempt` must apply the rules'
 * timeout itself (the `openai` client does, given `timeout`).
 */
export async function callWithRetries<T>(
  attempt: () => Promise<T>,
  rules: RetryRules,
  options: { signal?: AbortSignal; counters?: CallCounters } = {},
): Promise<T> {
  const { signal, counters } = options;
  for (let attemptIndex = 0; ; attemptIndex++) {
    if (signal?.aborted) throw new RemoteCallError("the call was cancelled", "aborted");
    try {
      if (counters) counters.calls++;
      return await attempt();
    } catch (error) {
      const failure = classifyFailure(error, rules.timeoutMs);
      const retriable = failure.retryAfterMs !== null && !signal?.aborted;
      if (!retriable || attemptIndex >= rules.maxRetries) {
        if (counters) counters.failures++;
        const { message, reason, status } = failure.error;
        throw attemptIndex > 0 ? new RemoteCallError(`${message} (after ${attemptIndex + 1} attempts)`, reason, status) : failure.error;
      }
      if (counters) counters.retries++;
      await sleep(backoffMs(rules, attemptIndex, failure.retryAfterMs ?? 0), signal);
    }
  }
}

const RETRIABLE_STATUS = (status: number): boolean => status === 408 || status === 409 || status === 429 || status >= 500;

/** The error to report, and whether (and after how long at least) to retry; null means do not retry. */
function classifyFailure(error: unknown, timeoutMs: number): { error: RemoteCallError; retryAfterMs: number | null } {
  if (error instanceof RemoteCallError) return { error, retryAfterMs: error.reason === "bad-response" ? 0 : null };
  if (error instanceof OpenAI.APIUserAbortError) return { error: new RemoteCallError("the call was cancelled", "aborted"), retryAfterMs: null };
  if (error instanceof OpenAI.APIConnectionTimeoutError) return { error: new RemoteCallError(`no response within ${timeoutMs} ms`, "timeout"), retryAfterMs: 0 };
  if (error instanceof OpenAI.APIConnectionError) return { error: new RemoteCallError(`network error: ${causeOf(error)}`, "network"), retryAfterMs: 0 };
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const summary = new RemoteCallError(`HTTP ${error.status}: ${firstLine(error.message)}`, "http", error.status);
    if (!RETRIABLE_STATUS(error.status)) return { error: summary, retryAfterMs: null };
    return { error: summary, retryAfterMs: retryAfterMs(error.headers) };
  }
  return { error: new RemoteCallError(`unexpected failure: ${firstLine(String((error as Error)?.message ?? error))}`, "bad-response"), retryAfterMs: null };
}

function backoffMs(rules: RetryRules, attempt: number, retryAfter: number): number {
  const exponential = rules.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
  return Math.min(rules.maxBackoffMs, Math.max(exponential, retryAfter));
}

function retryAfterMs(headers: Headers | undefined): number {
  const value = headers?.get("retry-after");
  const seconds = value ? Number(value) : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 0;
}

function causeOf(error: Error): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return firstLine(cause?.code ?? cause?.message ?? error.message);
}

/** The first line of `text`, at most 300 characters. */
export function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** A short description of a value that was not the expected response (its keys, not its contents). */
export function describeShape(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  return `an object with keys ${Object.keys(value).slice(0, 8).join(", ") || "(none)"}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RemoteCallError("the call was cancelled", "aborted"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RemoteCallError("the call was cancelled", "aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
