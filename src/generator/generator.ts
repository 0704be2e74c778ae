// The workflow generator's sampler: a GGUF model (optionally with a LoRA adapter) run by node-llama-cpp,
// sampling m completions per prompt in parallel sequences, with every token id recorded exactly.
//
// Files are checked by our own GGUF reader and content checks before node-llama-cpp sees them, and
// (by default) loaded once in a child process: llama.cpp aborts the whole process on some files.
import { LlamaGrammarEvaluationState, type LlamaContext, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { checkLlamaCppLoraAdapter, checkLlamaCppModel } from "../gguf/modelChecks.js";
import { metadataNumber, metadataString } from "../gguf/metadata.js";
import { readGgufHeader } from "../gguf/reader.js";
import type { GgufHeader } from "../gguf/types.js";
import { checkThreads, getLlamaRuntime, withLlamaReason } from "./llamaRuntime.js";
import { probeInChildProcess } from "./crashProbe.js";
import { evictCachedLoraAdapter } from "./loraCache.js";
import { sampleInLockstep, type Completion, type FinishReason } from "./lockstepSampling.js";
import { resolveSampleOptions, type SampleOptions } from "./sampleOptions.js";
import { StopStringMatcher } from "./stopStrings.js";
import { tokenizeText } from "./vocabulary.js";

export interface LoraAdapterChoice {
  path: string;
  /** Multiplies the adapter's alpha/rank scaling (default 1). */
  scale?: number;
}

export interface GeneratorOptions {
  modelPath: string;
  adapter?: LoraAdapterChoice;
  /** CPU threads for evaluation, 1..cores (default 1: best for small models on shared CPUs). */
  threads?: number;
  /**
   * Sequences evaluated in parallel in one batch (default 8). The context holds at least two: sampling
   * evaluates two or more tokens per step so that llama.cpp computes every token the same way (see
   * lockstepSampling.ts), and with one sequence the second evaluates placeholders.
   */
  sequences?: number;
  /** Tokens per sequence, prompt plus completion (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** F32 KV cache and no flash attention: probabilities match an exact reference to about 1e-6 (default false). */
  exactKvCache?: boolean;
  /**
   * Load each new model/adapter file once in a child process first, so that a file which crashes
   * llama.cpp gives an error instead of ending this process (default true; about a second per new file).
   */
  crashProbe?: boolean;
  /**
   * node-llama-cpp's CUDA build with every layer on the GPU (default false: the CPU build). The
   * sampler's probabilities are then no longer the training engine's to the bit (samplerArithmetic).
   */
  gpu?: boolean;
}

export type { SampleOptions, Completion, FinishReason };

/** One scored position: the log-probability of the token there, and the most likely tokens with theirs. */
export interface TokenScore {
  logprob: number;
  top: Array<{ token: number; logprob: number }>;
}

/** vLLM's floor for a log-probability (a probability that underflowed float32 is reported as this, not -Infinity). */
export const LOGPROB_FLOOR = -9999;

function logOf(probability: number): number {
  return Math.max(Math.log(probability), LOGPROB_FLOOR);
}


const DEFAULT_SEQUENCES = 8;
const MAX_DEFAULT_CONTEXT = 4096;
/**
 * Tokens per llama.cpp batch, fixed (node-llama-cpp's default shrinks it for small contexts): a prompt
 * is evaluated in pieces of this many tokens, and the pieces must not depend on the generator's settings.
 */
const BATCH_TOKENS = 512;

export class Generator {
  private context: LlamaContext | undefined;
  private sequences: LlamaContextSequence[] = [];
  private currentAdapter: LoraAdapterChoice | undefined;
  /** Serialises sampling and adapter switches: a context is replaced only when nothing runs on it. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly grammars = new Map<string, LlamaGrammar>();

  private constructor(
    private model: LlamaModel,
    readonly modelPath: string,
    /** The model file's header as our reader parsed it. */
    readonly header: GgufHeader,
    readonly threads: number,
    readonly sequenceCount: number,
    readonly contextSize: number,
    private readonly exactKvCache: boolean,
    private readonly crashProbe: boolean,
    readonly gpu: boolean,
  ) {}

  static async load(options: GeneratorOptions): Promise<Generator> {
    const threads = checkThreads(options.threads ?? 1);
    const sequenceCount = options.sequences ?? DEFAULT_SEQUENCES;
    if (!Number.isInteger(sequenceCount) || sequenceCount < 1) throw new Error(`sequences must be a positive whole number, got ${sequenceCount}`);
    const header = readGgufHeader(options.modelPath);
    checkLlamaCppModel(header, options.modelPath);
    const arch = metadataString(header.metadata, "general.architecture")!;
    const trainedContext = metadataNumber(header.metadata, `${arch}.context_length`)!;
    const contextSize = options.contextSize ?? Math.min(trainedContext, MAX_DEFAULT_CONTEXT);
    if (!Number.isInteger(contextSize) || contextSize < 1) throw new Error(`contextSize must be a positive whole number, got ${contextSize}`);

    const crashProbe = options.crashProbe ?? true;
    if (options.adapter) checkAdapterFile(options.adapter, arch);
    if (crashProbe) await probeInChildProcess(options.modelPath, options.adapter?.path);

    const gpu = options.gpu ?? false;
    const llama = await getLlamaRuntime(gpu);
    const model = await withLlamaReason(`node-llama-cpp could not load model ${options.modelPath}`, () =>
      llama.loadModel({ modelPath: options.modelPath, gpuLayers: gpu ? "max" : 0 }),
    );
    const generator = new Generator(model, options.modelPath, header, threads, sequenceCount, contextSize, options.exactKvCache ?? false, crashProbe, gpu);
    try {
      await generator.openContext(options.adapter);
    } catch (error) {
      await model.dispose();
      throw error;
    }
    return generator;
  }

  /** Which arithmetic the sampler's probabilities come from (stored per run and iteration). */
  get samplerArithmetic(): string {
    const cache = this.exactKvCache ? "F32 KV cache, no flash attention" : "llama.cpp's default KV cache";
    return this.gpu
      ? `llama.cpp CUDA, all layers on the GPU, ${cache}: probabilities differ from the training engine's (measure with scripts/gpu-check.sh)`
      : `llama.cpp CPU, ${cache}${this.exactKvCache ? ": the training engine's probabilities, bit for bit on AVX-512/AVX2" : ""}`;
  }

  get architecture(): string {
    return metadataString(this.header.metadata, "general.architecture")!;
  }

  get vocabularySize(): number {
    const tokens = this.header.metadata.get("tokenizer.ggml.tokens");
    return tokens?.type === "array" ? tokens.items.length : 0;
  }

  get adapter(): LoraAdapterChoice | undefined {
    return this.currentAdapter;
  }

  /** Token ids for `text`: special tokens such as <|im_start|> are parsed, and BOS is prepended when the model asks for it. */
  tokenize(text: string): number[] {
    return tokenizeText(this.model, text);
  }

  /** Text of `tokens`; control tokens render as nothing. */
  detokenize(tokens: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false);
  }

  isEndOfGeneration(token: number): boolean {
    return this.model.isEogToken(token as Token);
  }

  /**
   * Switches to another adapter (or none). A new file is always read afresh, also when it has the path
   * of an adapter used before (node-llama-cpp would otherwise reuse its cached copy).
   */
  setAdapter(adapter: LoraAdapterChoice | undefined): Promise<void> {
    return this.exclusive(() => this.openContext(adapter));
  }

  /** Samples `options.m` completions of `prompt` (text, or exact token ids). */
  sample(prompt: string | readonly number[], options: SampleOptions): Promise<Completion[]> {
    return this.exclusive(() => this.sampleNow(prompt, options));
  }

  /**
   * Teacher-forced next-token distributions: entry i is the probability of every vocabulary token
   * after tokens[0..i], before any sampling filter (softmax of the logits at temperature 1).
   * Costs O(vocabulary) memory and JS work per position: meant for tests, parity checks and short sequences.
   */
  nextTokenDistributions(tokens: readonly number[]): Promise<Float64Array[]> {
    return this.exclusive(async () => {
      const distributions = await this.teacherForcedProbabilities(tokens, 0);
      return distributions.map((probabilities) => {
        const distribution = new Float64Array(this.vocabularySize);
        for (const [token, p] of probabilities) distribution[token] = p;
        return distribution;
      });
    });
  }

  /**
   * The model's log-probability of tokens[i] after tokens[0..i-1], for every i >= from (from >= 1), at
   * temperature 1 before any sampling filter (what vLLM reports as raw log-probs), with the `top` most
   * likely tokens at that position. One teacher-forced pass over `tokens`; O(vocabulary) JS work per
   * scored position.
   */
  scoreTokens(tokens: readonly number[], from: number, top = 0): Promise<TokenScore[]> {
    if (!Number.isInteger(from) || from < 1 || from > tokens.length) throw new Error(`from must be a whole number from 1 to ${tokens.length}, got ${from}`);
    if (!Number.isInteger(top) || top < 0) throw new Error(`top must be a whole number >= 0, got ${top}`);
    return this.exclusive(async () => {
      const distributions = await this.teacherForcedProbabilities(tokens.slice(0, -1), from - 1);
      return distributions.map((probabilities, j) => {
        const alternatives: Array<{ token: number; logprob: number }> = [];
        // node-llama-cpp lists the probabilities from the most likely down.
        for (const [token, p] of probabilities) {
          if (alternatives.length >= top) break;
          alternatives.push({ token, logprob: logOf(p) });
        }
        return { logprob: logOf(probabilities.get(tokens[from + j]! as Token) ?? 0), top: alternatives };
      });
    });
  }

  /** Distributions after tokens[0..i] for i >= from (temperature 1, no filter), in one controlled evaluation. */
  private async teacherForcedProbabilities(tokens: readonly number[], from: number): Promise<Array<Map<Token, number>>> {
    this.checkTokenIds(tokens, "tokens");
    if (tokens.length === 0) return [];
    if (tokens.length > this.contextSize) throw new Error(`${tokens.length} tokens do not fit the context of ${this.contextSize}`);
    const sequence = this.requireSequences()[0]!;
    const next = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } } as const;
    try {
      const results = await sequence.controlledEvaluate(tokens.map((token, i) => (i >= from ? [token as Token, next] : (token as Token))));
      return tokens.slice(from).map((_, j) => {
        const probabilities = results[from + j]?.next?.probabilities;
        if (!probabilities) throw new Error(`node-llama-cpp returned no probabilities at position ${from + j}`);
        return probabilities;
      });
    } finally {
      await sequence.clearHistory();
    }
  }

  async dispose(): Promise<void> {
    await this.exclusive(async () => {
      await this.context?.dispose();
      this.context = undefined;
      await this.model.dispose();
    });
  }

  private exclusive<T>(action: () => Promise<T>): Promise<T> {
    const run = this.queue.then(action, action);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async openContext(adapter: LoraAdapterChoice | undefined): Promise<void> {
    if (adapter) {
      checkAdapterFile(adapter, this.architecture);
      if (this.crashProbe) await probeInChildProcess(this.modelPath, adapter.path);
    }
    await this.context?.dispose();
    this.context = undefined;
    this.sequences = [];
    if (this.currentAdapter && !(await evictCachedLoraAdapter(this.model, this.currentAdapter.path))) await this.reloadModel();
    this.currentAdapter = undefined;

    const context = await withLlamaReason(
      adapter ? `node-llama-cpp could not apply adapter ${adapter.path} to ${this.modelPath}` : `node-llama-cpp could not create a context for ${this.modelPath}`,
      () =>
        this.model.createContext({
          sequences: Math.max(2, this.sequenceCount),
          contextSize: this.contextSize,
          batchSize: BATCH_TOKENS,
          threads: this.threads,
          ...(this.exactKvCache ? { flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" } : {}),
          ...(adapter ? { lora: { adapters: [{ filePath: adapter.path, scale: adapter.scale ?? 1 }] } } : {}),
        }),
    ).catch(async (error: unknown) => {
      // The adapter may have reached node-llama-cpp's cache before the context failed; a later file at that path must not meet it.
      if (adapter) await evictCachedLoraAdapter(this.model, adapter.path);
      throw error;
    });
    this.context = context;
    this.sequences = Array.from({ length: Math.max(2, this.sequenceCount) }, () => context.getSequence());
    this.currentAdapter = adapter ? { ...adapter } : undefined;
  }

  /** Fallback when node-llama-cpp's adapter cache cannot be cleared: a fresh model has an empty cache. */
  private async reloadModel(): Promise<void> {
    const llama = await getLlamaRuntime(this.gpu);
    await this.model.dispose();
    this.model = await withLlamaReason(`node-llama-cpp could not reload model ${this.modelPath}`, () => llama.loadModel({ modelPath: this.modelPath, gpuLayers: this.gpu ? "max" : 0 }));
  }

  private async sampleNow(prompt: string | readonly number[], options: SampleOptions): Promise<Completion[]> {
    const settings = resolveSampleOptions(options);
    const promptTokens = typeof prompt === "string" ? this.tokenize(prompt) : [...prompt];
    this.checkTokenIds(promptTokens, "prompt");
    if (promptTokens.length === 0) throw new Error("the prompt has no tokens");
    if (promptTokens.length + settings.maxTokens > this.contextSize) {
      throw new Error(`prompt (${promptTokens.length} tokens) + maxTokens (${settings.maxTokens}) exceed the context size ${this.contextSize}`);
    }
    const grammar = settings.grammar === "" ? undefined : await this.grammarFor(settings.grammar);
    return sampleInLockstep({
      sequences: this.requireSequences(), contextSize: this.contextSize, promptTokens, settings, stopMatcher: new StopStringMatcher(settings.stop), rules: this,
      ...(grammar ? { grammarState: () => new LlamaGrammarEvaluationState({ model: this.model, grammar }) } : {}),
    });
  }

  /** The compiled grammar for a GBNF text (compiled once per generator); a bad grammar names llama.cpp's reason. */
  private async grammarFor(gbnf: string): Promise<LlamaGrammar> {
    let grammar = this.grammars.get(gbnf);
    if (!grammar) {
      const llama = await getLlamaRuntime(this.gpu);
      grammar = await withLlamaReason("node-llama-cpp could not parse the grammar", () => llama.createGrammar({ grammar: gbnf }));
      this.grammars.set(gbnf, grammar);
    }
    return grammar;
  }

  private requireSequences(): LlamaContextSequence[] {
    if (this.sequences.length === 0) throw new Error("this generator has no context: the last adapter switch failed or it was disposed");
    return this.sequences;
  }

  private checkTokenIds(tokens: readonly number[], what: string): void {
    const vocab = this.vocabularySize;
    const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
    if (bad >= 0) throw new Error(`${what}[${bad}] = ${tokens[bad]} is not a token id of this model (0..${vocab - 1})`);
  }
}

/** Our reader and content checks on an adapter file, before anything else sees it. */
function checkAdapterFile(adapter: LoraAdapterChoice, modelArch: string): void {
  checkLlamaCppLoraAdapter(readGgufHeader(adapter.path), modelArch, adapter.path);
  if (adapter.scale !== undefined && !Number.isFinite(adapter.scale)) throw new Error(`adapter scale must be a finite number, got ${adapter.scale}`);
}
