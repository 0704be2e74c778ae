// The executor behind any OpenAI-compatible chat-completions endpoint, through the `openai` client:
// temperature 0 by default (as in the paper), bounded concurrency, a per-call timeout, retries with
// exponential backoff on 429, 5xx, network errors and timeouts (the rules of src/util/remoteCall.ts),
// and token/cost accounting. The API key lives only inside the client (a private field): it is never
// logged, stored or put in an error.
import OpenAI from "openai";
import { callWithRetries, DEFAULT_RETRY_RULES, describeShape } from "../util/remoteCall.js";
import { Semaphore } from "../util/semaphore.js";
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
      timeoutMs: options.timeoutMs ?? DEFAULT_RETRY_RULES.timeoutMs,
      maxRetries: options.maxRetries ?? DEFAULT_RETRY_RULES.maxRetries,
      backoffMs: options.backoffMs ?? DEFAULT_RETRY_RULES.backoffMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_RETRY_RULES.maxBackoffMs,
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

  private completeWithRetries(request: CompletionRequest, signal: AbortSignal | undefined): Promise<CompletionResult> {
    return callWithRetries(() => this.attempt(request, signal), this.settings, { ...(signal ? { signal } : {}), counters: this.counters });
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
}
