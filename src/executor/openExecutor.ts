// The executor a user names with one string: `gguf:FILE` runs a local GGUF model in-process
// (node-llama-cpp), anything else is the base URL of an OpenAI-compatible API (unset: the environment's,
// see openAIExecutorOptionsFromEnv). The label says which, for printing beside results.
import { EmbeddedExecutor } from "./embeddedExecutor.js";
import { OpenAIExecutor, openAIExecutorOptionsFromEnv } from "./openaiExecutor.js";
import type { Executor } from "./types.js";

export interface ExecutorChoice {
  /** `gguf:FILE`, or an API base URL (undefined: $SPOGW_EXECUTOR_URL). */
  executor?: string;
  /** Model name sent to the API (undefined: $SPOGW_EXECUTOR_MODEL or the default). */
  model?: string;
  /** API key (undefined: $SPOGW_EXECUTOR_KEY). */
  apiKey?: string;
  /** Completion length per call. */
  maxTokens: number;
  /** Per API call. */
  timeoutMs: number;
  /** Calls in flight at once (the API client allows twice this, for retries). */
  concurrency: number;
}

export interface OpenedExecutor {
  executor: Executor & { readonly defaultTemperature: number };
  /** Model and where it runs, without credentials. */
  label: string;
}

export async function openExecutor(choice: ExecutorChoice): Promise<OpenedExecutor> {
  const concurrency = Math.max(1, choice.concurrency);
  if (choice.executor?.startsWith("gguf:")) {
    const modelPath = choice.executor.slice("gguf:".length);
    const executor = await EmbeddedExecutor.load({ modelPath, threads: 1, sequences: concurrency, maxTokens: choice.maxTokens });
    return { executor, label: `${modelPath} in-process (node-llama-cpp, ${executor.chatFormat} prompts)` };
  }
  const settings = openAIExecutorOptionsFromEnv({
    ...(choice.executor ? { baseURL: choice.executor } : {}),
    ...(choice.model ? { model: choice.model } : {}),
    ...(choice.apiKey ? { apiKey: choice.apiKey } : {}),
  });
  const executor = new OpenAIExecutor({ ...settings, maxTokens: choice.maxTokens, timeoutMs: choice.timeoutMs, concurrency: concurrency * 2 });
  return { executor, label: `${executor.model} at ${withoutCredentials(executor.baseURL)}` };
}

/** The URL as printed: user and password parts (if someone put a key there) are masked. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = "***";
      parsed.password = "";
    }
    return parsed.toString();
  } catch {
    return url;
  }
}
