// Executors: the LLM that answers a workflow's operator calls, behind one interface.
export { emptyStats, ExecutorError, type CallOptions, type ChatMessage, type CompletionRequest, type CompletionResult, type Executor, type ExecutorStats, type TokenUsage } from "./types.js";
export { OpenAIExecutor, openAIExecutorOptionsFromEnv, type OpenAIExecutorOptions, type TokenPrices } from "./openaiExecutor.js";
export { EmbeddedExecutor, completeText, type EmbeddedExecutorOptions, type TextCompletionSettings } from "./embeddedExecutor.js";
export { ResponseCache, type CachedResponse } from "./responseCache.js";
export { CachingExecutor } from "./cachingExecutor.js";
export { requestCacheKey } from "./cacheKey.js";
export { renderChatPrompt, chatFormatFor, type ChatFormat } from "./chatPrompt.js";
export { evaluationExecutors, runCacheModel, type EvaluationExecutors } from "./runExecutors.js";
export { openExecutor, withoutCredentials, type ExecutorChoice, type OpenedExecutor } from "./openExecutor.js";
