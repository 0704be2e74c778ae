// The executor behind any OpenAI-compatible chat-completions endpoint, through the `openai` client:
// temperature 0 by default (as in the paper), bounded concurrency, a per-call timeout, retries with
// exponential backoff on 429, 5xx, network errors and timeouts, and token/cost accounting. The API key
// lives only inside the client (a private field): it is never logged, stored or put in an error.
import OpenAI from "openai";
import { Semaphore } from "./semaphore.js";
import { emptyStats, ExecutorError, type CallOptions, type CompletionRequest, type CompletionResult, type Executor, type ExecutorStats } from "./types.js";

export interface TokenPrices {
  /** US dollars per million prompt tokens. */
  promptPerMillion: number;
  /** US dollars per million completion tokens. */
  completionPerMillion: number;
}

export interface OpenAIExecutorOptions {
  /** E.g. http://127.0.0.1:8080/v1. */
  baseURL: string;
  model: string;
  /** Local servers accept any key; a placeholder is sent when none is given. */
  apiKey?: string;
  /** Default 0. */
  temperature?: number;
  /** Default 1024. */
  maxTokens?: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Per attempt (default 60 s). */
  timeoutMs?: number;
  /** Attempts after the first (default 4). */
  maxRetries?: number;
  /** First backoff; doubles each retry, with jitter (default 500 ms). */
  backoffMs?: number;
  /** Longest single backoff, also caps a server's Retry-After (default 20 s). */
  maxBackoffMs?: number;
  prices?: TokenPrices;
}

/** The settings resolved from flags and the environment, for the CLI. */
export function openAIExecutorOptionsFromEnv(
  flags: Partial<OpenAIExecutorOptions>,
  env: NodeJS.ProcessEnv = process.env,
): OpenAIExecutorOptions {
  const baseURL = flags.baseURL ?? env.SPOGW_EXECUTOR_URL ?? env.OPENAI_BASE_URL;
  if (!baseURL) throw new ExecutorError("no executor URL: pass --executor URL or set SPOGW_EXECUTOR_URL", "config");
  const apiKey = flags.apiKey ?? env.SPOGW_EXECUTOR_KEY ?? env.OPENAI_API_KEY;
  return { ...flags, baseURL, model: flags.model ?? env.SPOGW_EXECUTOR_MODEL ?? "gpt-4o-mini", ...(apiKey ? { apiKey } : {}) };
}

const RETRIABLE_STATUS = (status: number): boolean => status === 408 || status === 409 || status === 429 || status >= 500;

export class OpenAIExecutor implements Executor {
  readonly model: string;
  readonly baseURL: string;
  #client: OpenAI;
  private readonly slots: Semaphore;
  private readonly counters = emptyStats();
  private readonly settings: Required<Omit<OpenAIExecutorOptions, "apiKey" | "prices" | "baseURL" | "model">> & { prices?: TokenPrices };

  constructor(options: OpenAIExecutorOptions) {
    this.model = options.model;
    this.baseURL = options.baseURL;
    this.settings = {
      temperature: options.temperature ?? 0,
      maxTokens: options.maxTokens ?? 1024,
      concurrency: options.concurrency ?? 8,
      timeoutMs: options.timeoutMs ?? 60_000,
      maxRetries: options.maxRetries ?? 4,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 20_000,
      ...(options.prices ? { prices: options.prices } : {}),
    };
    this.slots = new Semaphore(this.settings.concurrency);
    // Retries and timeouts are ours (so that every attempt is counted and bounded the same way).
    this.#client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey ?? "no-key", maxRetries: 0, timeout: this.settings.timeoutMs });
  }

  get defaultTemperature(): number {
    return this.settings.temperature;
  }

  complete(request: CompletionRequest, options: CallOptions = {}): Promise<CompletionResult> {
    return this.slots.run(() => this.completeWithRetries(request, options.signal));
  }

  stats(): ExecutorStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {}

  private async completeWithRetries(request: CompletionRequest, signal: AbortSignal | undefined): Promise<CompletionResult> {
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new ExecutorError("the call was cancelled", "aborted");
      try {
        this.counters.calls++;
        return await this.attempt(request, signal);
      } catch (error) {
        const failure = classifyError(error, this.settings.timeoutMs);
        const retriable = failure.retryAfterMs !== null && !signal?.aborted;
        if (!retriable || attempt >= this.settings.maxRetries) {
          this.counters.failures++;
          throw attempt > 0 ? new ExecutorError(`${failure.error.message} (after ${attempt + 1} attempts)`, failure.error.reason, failure.error.status) : failure.error;
        }
        this.counters.retries++;
        await sleep(this.backoff(attempt, failure.retryAfterMs ?? 0), signal);
      }
    }
  }

  private async attempt(request: CompletionRequest, signal: AbortSignal | undefined): Promise<CompletionResult> {
    const response = await this.#client.chat.completions.create(
      {
        model: this.model,
        messages: request.messages,
        temperature: request.temperature ?? this.settings.temperature,
        max_tokens: request.maxTokens ?? this.settings.maxTokens,
        ...(request.stop?.length ? { stop: request.stop } : {}),
        ...(request.seed !== undefined ? { seed: request.seed } : {}),
      },
      signal ? { signal } : {},
    );
    const choice = response?.choices?.[0];
    const text = choice?.message?.content;
    if (typeof text !== "string") {
      throw new ExecutorError(`bad response from ${this.baseURL}: no choices[0].message.content (got ${describeShape(response)})`, "bad-response");
    }
    const promptTokens = response.usage?.prompt_tokens ?? 0;
    const completionTokens = response.usage?.completion_tokens ?? 0;
    this.counters.promptTokens += promptTokens;
    this.counters.completionTokens += completionTokens;
    const prices = this.settings.prices;
    if (prices) this.counters.costUsd += (promptTokens * prices.promptPerMillion + completionTokens * prices.completionPerMillion) / 1e6;
    return { text, finishReason: choice?.finish_reason ?? "unknown", usage: { promptTokens, completionTokens }, model: response.model ?? this.model, cached: false };
  }

  private backoff(attempt: number, retryAfterMs: number): number {
    const exponential = this.settings.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
    return Math.min(this.settings.maxBackoffMs, Math.max(exponential, retryAfterMs));
  }
}

/** The error to report, and whether (and after how long at least) to retry; null means do not retry. */
function classifyError(error: unknown, timeoutMs: number): { error: ExecutorError; retryAfterMs: number | null } {
  if (error instanceof ExecutorError) return { error, retryAfterMs: error.reason === "bad-response" ? 0 : null };
  if (error instanceof OpenAI.APIUserAbortError) return { error: new ExecutorError("the call was cancelled", "aborted"), retryAfterMs: null };
  if (error instanceof OpenAI.APIConnectionTimeoutError) return { error: new ExecutorError(`no response within ${timeoutMs} ms`, "timeout"), retryAfterMs: 0 };
  if (error instanceof OpenAI.APIConnectionError) return { error: new ExecutorError(`network error: ${causeOf(error)}`, "network"), retryAfterMs: 0 };
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const summary = new ExecutorError(`HTTP ${error.status}: ${firstLine(error.message)}`, "http", error.status);
    if (!RETRIABLE_STATUS(error.status)) return { error: summary, retryAfterMs: null };
    return { error: summary, retryAfterMs: retryAfterMs(error.headers) };
  }
  return { error: new ExecutorError(`unexpected failure: ${firstLine(String((error as Error)?.message ?? error))}`, "bad-response"), retryAfterMs: null };
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

function firstLine(text: string): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

function describeShape(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  return `an object with keys ${Object.keys(value).slice(0, 8).join(", ") || "(none)"}`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ExecutorError("the call was cancelled", "aborted"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ExecutorError("the call was cancelled", "aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
