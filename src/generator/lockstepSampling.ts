// Sampling m completions on a few parallel sequences so that the same seed always gives the same tokens.
//
// llama.cpp's numbers for a token depend slightly on the batch it is evaluated in (kernel paths change
// with batch size), and node-llama-cpp batches whatever happens to be queued when it dispatches. Left
// to its own timing, a loaded machine changes batch make-up and, rarely, a sampled token (measured: 3
// of 320 completions). Here every step evaluates one token for each running completion, all issued
// together, so each batch holds exactly the running completions and the schedule depends only on the
// tokens, never on timing.
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { SampleOptions } from "./sampleOptions.js";
import type { StopStringMatcher } from "./stopStrings.js";

/** Why a completion ended: a stop string appeared, the model emitted an end-of-generation token, or maxTokens. */
export type FinishReason = "stop" | "eog" | "length";

export interface Completion {
  index: number;
  seed: number;
  /** The exact token ids the model was conditioned on. */
  promptTokens: number[];
  /** The sampled token ids, including a final end-of-generation token when finishReason is "eog". */
  tokens: number[];
  /**
   * generator.detokenize(tokens): control tokens (such as the end-of-generation token) render as nothing;
   * a stop string is included, with whatever its last token carried after it.
   */
  text: string;
  finishReason: FinishReason;
  stopString?: string;
}

/** What sampling needs to know about the model's tokens. */
export interface TokenRules {
  isEndOfGeneration(token: number): boolean;
  detokenize(tokens: readonly number[]): string;
}

/** One sample() call: m completions of one prompt on the generator's parallel sequences. */
export interface SamplingJob {
  sequences: readonly LlamaContextSequence[];
  promptTokens: readonly number[];
  settings: Required<SampleOptions>;
  stopMatcher: StopStringMatcher;
  rules: TokenRules;
}

/** The finished completion as sample() returns it. */
export function finishedCompletion(
  job: SamplingJob, index: number, seed: number, tokens: number[], finish: Pick<Completion, "finishReason" | "stopString">,
): Completion {
  return { index, seed, promptTokens: [...job.promptTokens], tokens, text: job.rules.detokenize(tokens), ...finish };
}

interface RunningCompletion {
  index: number;
  seed: number;
  sequence: LlamaContextSequence;
  tokens: number[];
  /** Tokens to feed at the next step: the prompt first, then the last sampled token. */
  input: number[];
}

/**
 * Completion i uses seed + i; its step s draws from a sampler seeded with mixSeeds(seed + i, s), since
 * node-llama-cpp makes a fresh sampler for every controlled evaluation. A sequence that finishes
 * takes the next completion at the following step.
 */
export async function sampleInLockstep(job: SamplingJob): Promise<Completion[]> {
  const { sequences, promptTokens, settings, stopMatcher, rules } = job;
  const completions: Completion[] = new Array(settings.m);
  const free = sequences.slice(0, Math.min(sequences.length, settings.m));
  let running: RunningCompletion[] = [];
  let nextIndex = 0;
  const startCompletions = () => {
    while (free.length > 0 && nextIndex < settings.m) {
      const index = nextIndex++;
      running.push({ index, seed: settings.seed + index, sequence: free.shift()!, tokens: [], input: [...promptTokens] });
    }
  };
  startCompletions();
  try {
    while (running.length > 0) {
      const sampled = await Promise.all(running.map((completion) => step(completion, settings)));
      const stillRunning: RunningCompletion[] = [];
      for (const [i, completion] of running.entries()) {
        const token = sampled[i]!;
        completion.tokens.push(token);
        completion.input = [token];
        const finish = finishOf(completion.tokens, settings.maxTokens, stopMatcher, rules);
        if (!finish) {
          stillRunning.push(completion);
          continue;
        }
        completions[completion.index] = finishedCompletion(job, completion.index, completion.seed, completion.tokens, finish);
        await completion.sequence.clearHistory();
        free.push(completion.sequence);
      }
      running = stillRunning;
      startCompletions();
    }
  } finally {
    // After an error, leave no half-written completion in the sequences' KV cache.
    await Promise.all(running.map((completion) => completion.sequence.clearHistory()));
  }
  return completions;
}

async function step(completion: RunningCompletion, settings: Required<SampleOptions>): Promise<number> {
  const options = {
    temperature: settings.temperature,
    topK: settings.topK,
    topP: settings.topP,
    minP: 0,
    seed: mixSeeds(completion.seed, completion.tokens.length),
  };
  const last = completion.input.length - 1;
  const items = completion.input.map((token, i) => (i < last ? (token as Token) : ([token as Token, { generateNext: { token: true, options } }] as const)));
  const results = await completion.sequence.controlledEvaluate(items as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
  const token = results[last]?.next?.token;
  if (token === undefined || token === null) throw new Error(`node-llama-cpp sampled no token for completion ${completion.index}`);
  return token;
}

/** Why a completion with these tokens is finished, or undefined while it goes on. */
export function finishOf(
  tokens: readonly number[],
  maxTokens: number,
  stopMatcher: StopStringMatcher,
  rules: TokenRules,
): Pick<Completion, "finishReason" | "stopString"> | undefined {
  if (rules.isEndOfGeneration(tokens[tokens.length - 1]!)) return { finishReason: "eog" };
  if (stopMatcher.stopStrings.length > 0) {
    const stopString = stopMatcher.find(rules.detokenize(tokens.slice(-stopMatcher.tailTokens)));
    if (stopString !== undefined) return { finishReason: "stop", stopString };
  }
  return tokens.length >= maxTokens ? { finishReason: "length" } : undefined;
}

/** A 32-bit seed from two numbers (murmur3's finaliser over a golden-ratio mix). */
export function mixSeeds(seed: number, stepIndex: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stepIndex + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
