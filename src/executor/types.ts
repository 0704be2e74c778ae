// The one interface every executor LLM sits behind: operators send chat messages, get text back.

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One request to the executor. Every field that changes the answer is part of the cache key. */
export interface CompletionRequest {
  messages: ChatMessage[];
  /** Sampling temperature; the executor's default (0, as in the paper) when absent. */
  temperature?: number;
  maxTokens?: number;
  stop?: string[];
  /** Distinguishes repeated samples of the same prompt (ensembles); sent to the model where supported. */
  seed?: number;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface CompletionResult {
  text: string;
  finishReason: string;
  usage: TokenUsage;
  /** The model that answered. */
  model: string;
  /** True when the answer came from the response cache rather than a call to the model. */
  cached: boolean;
}

export interface CallOptions {
  /** Aborts the call (a workflow's deadline passed); the promise then rejects. */
  signal?: AbortSignal;
}

/** Running totals; `calls` counts requests that reached the model (cache hits excluded). */
export interface ExecutorStats {
  calls: number;
  cacheHits: number;
  retries: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  /** In US dollars, from the per-token prices the executor was given (0 when none). */
  costUsd: number;
}

export interface Executor {
  /** Identifies the model in cache keys and reports. */
  readonly model: string;
  complete(request: CompletionRequest, options?: CallOptions): Promise<CompletionResult>;
  stats(): ExecutorStats;
  close(): Promise<void>;
}

export function emptyStats(): ExecutorStats {
  return { calls: 0, cacheHits: 0, retries: 0, failures: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };
}

/** A failure the executor could not recover from (the one error type of every remote call, src/util/remoteCall.ts). */
export { RemoteCallError as ExecutorError } from "../util/remoteCall.js";
