// The OpenAI-compatible local server (chat and text completions on a GGUF model) with fault injection.
export { startOpenAIServer, type OpenAIServerOptions, type RunningServer, type ServerCounters } from "./openaiServer.js";
export { FaultInjector, type FaultDecision, type FaultOptions } from "./faults.js";
