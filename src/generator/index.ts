// The generator: sampling completions from a GGUF model (+ LoRA adapter) through node-llama-cpp.
export {
  Generator,
  type Completion,
  type FinishReason,
  type GeneratorOptions,
  type LoraAdapterChoice,
  type SampleOptions,
  type TokenScore,
} from "./generator.js";
export { checkThreads, getLlamaRuntime, machineCores, onLlamaLog, withLlamaReason, type LlamaLogLine } from "./llamaRuntime.js";
