// The executor as a local GGUF model run in this process by node-llama-cpp, through the project's
// Generator (src/generator). Requests are answered one batch at a time by the generator; concurrency
// comes from the generator's parallel sequences when callers use `m > 1` (here: one completion each).
import { Generator, type GeneratorOptions } from "../generator/generator.js";
import { textBeforeStop } from "../generator/stopStrings.js";
import { metadataString } from "../gguf/metadata.js";
import { chatFormatFor, renderChatPrompt, type ChatFormat } from "./chatPrompt.js";
import { emptyStats, ExecutorError, type CallOptions, type CompletionRequest, type CompletionResult, type Executor, type ExecutorStats } from "./types.js";

export interface EmbeddedExecutorOptions extends GeneratorOptions {
  /** Default 0 (greedy). */
  temperature?: number;
  /** Default 256. */
  maxTokens?: number;
}

export class EmbeddedExecutor implements Executor {
  readonly model: string;
  private readonly counters = emptyStats();

  private constructor(
    private readonly generator: Generator,
    readonly chatFormat: ChatFormat,
    private readonly temperature: number,
    private readonly maxTokens: number,
  ) {
    this.model = `gguf:${generator.modelPath}${generator.adapter ? `+${generator.adapter.path}` : ""}`;
  }

  static async load(options: EmbeddedExecutorOptions): Promise<EmbeddedExecutor> {
    const generator = await Generator.load(options);
    const format = chatFormatFor(metadataString(generator.header.metadata, "tokenizer.chat_template"));
    return new EmbeddedExecutor(generator, format, options.temperature ?? 0, options.maxTokens ?? 256);
  }

  get defaultTemperature(): number {
    return this.temperature;
  }

  async complete(request: CompletionRequest, options: CallOptions = {}): Promise<CompletionResult> {
    if (options.signal?.aborted) throw new ExecutorError("the call was cancelled", "aborted");
    this.counters.calls++;
    const completion = await completeText(this.generator, renderChatPrompt(request.messages, this.chatFormat), {
      temperature: request.temperature ?? this.temperature,
      maxTokens: request.maxTokens ?? this.maxTokens,
      stop: request.stop ?? [],
      seed: request.seed ?? 0,
    });
    this.counters.promptTokens += completion.usage.promptTokens;
    this.counters.completionTokens += completion.usage.completionTokens;
    return { ...completion, model: this.model, cached: false };
  }

  stats(): ExecutorStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    await this.generator.dispose();
  }
}

export interface TextCompletionSettings {
  temperature: number;
  maxTokens: number;
  stop: string[];
  seed: number;
}

/**
 * One completion of `prompt`, shaped as an OpenAI choice: the text without the stop string, and
 * finish reason "stop" (stop string or end of generation) or "length". Shared with the local server.
 */
export async function completeText(
  generator: Generator,
  prompt: string,
  settings: TextCompletionSettings,
): Promise<{ text: string; finishReason: "stop" | "length"; usage: { promptTokens: number; completionTokens: number } }> {
  // Leave room for the completion: a prompt too long for the context is refused with a clear error.
  const maxTokens = Math.max(1, settings.maxTokens);
  const [completion] = await generator.sample(prompt, { m: 1, temperature: settings.temperature, maxTokens, stop: settings.stop, seed: settings.seed });
  if (!completion) throw new ExecutorError("the generator returned no completion", "bad-response");
  return {
    text: textBeforeStop(completion),
    finishReason: completion.finishReason === "length" ? "length" : "stop",
    usage: { promptTokens: completion.promptTokens.length, completionTokens: completion.tokens.length },
  };
}
