// Sampling m completions on parallel sequences so that each completion's tokens depend only on its
// prompt, its seed, the model and the sampling settings: never on timing, on the completions running
// beside it, or on how many sequences the generator has.
//
// Why this takes care: llama.cpp's numbers for a token depend on the batch it is computed in.
//  - ggml's CPU matrix product takes llamafile's tinyBLAS path for two or more tokens and ggml's own
//    vec_dot path for one token, and the two sum in different orders.
//  - Each sequence has its own KV stream (node-llama-cpp's llama.cpp keeps kv_unified off), and a batch
//    is split into ubatches of sequences with *consecutive* ids and *equally many* tokens each: a gap in
//    the ids leaves a sequence alone in a ubatch (one token: the vec_dot path), and a prompt batched
//    beside other sequences' single tokens is cut into one-token pieces.
//  - node-llama-cpp batches whatever is queued when it dispatches, so free-running sequences meet
//    different neighbours from run to run (measured: two `demo --seed 7` runs differed in 1 of 192
//    workflows of iteration 1, and everything after it).
// So: a completion's prompt is evaluated alone, with nothing else queued, and every later step
// evaluates exactly one token on each of the sequences 0..span-1 (span >= 2), issued in id order in one
// tick. A running completion contributes its last token; a sequence without one (its completions are
// done) evaluates a placeholder that nobody reads. Every step is then one ubatch of >= 2 tokens, one
// per sequence, and each token of a completion is computed by the same kernels in the same order
// whatever its neighbours do (test/generator/batchIndependence.test.ts checks this bit for bit).
// Every sequence is driven the same way (a node-llama-cpp evaluate() stream resumed once per step), so
// their decodes are queued in the order they are issued.
import type { LlamaContextSequence, LlamaGrammarEvaluationState, Token } from "node-llama-cpp";
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
  /** Every sequence of the context, at least two (ids 0, 1, ... in this order). */
  sequences: readonly LlamaContextSequence[];
  /** Tokens one sequence may hold (the context size per sequence). */
  contextSize: number;
  promptTokens: readonly number[];
  settings: Required<SampleOptions>;
  stopMatcher: StopStringMatcher;
  rules: TokenRules;
  /** A fresh grammar state per completion when sampling is grammar-constrained. */
  grammarState?: () => LlamaGrammarEvaluationState;
}

type TokenStream = AsyncGenerator<Token, void, Token | Token[] | undefined>;

interface Lane {
  sequence: LlamaContextSequence;
  stream: TokenStream;
  /** The completion this lane samples, or undefined while it evaluates placeholders. */
  completion: { index: number; seed: number; tokens: number[] } | undefined;
}

/**
 * Completion i is sampled with seed + i by a sampler of its own (node-llama-cpp's evaluate stream), so
 * its random draws depend on nothing else. A lane whose completion finishes takes the next one.
 */
export async function sampleInLockstep(job: SamplingJob): Promise<Completion[]> {
  const { settings } = job;
  if (job.sequences.length < 2) throw new Error("lockstep sampling needs a context with at least two sequences");
  const completions: Completion[] = new Array(settings.m);
  let nextIndex = 0;
  const lanes: Lane[] = [];
  try {
    // Fills a lane: its next completion (or a placeholder) starts with an evaluation of its own, alone.
    const fill = async (lane: Lane): Promise<void> => {
      while (nextIndex < settings.m) {
        const index = nextIndex++;
        const seed = settings.seed + index;
        lane.completion = { index, seed, tokens: [] };
        lane.stream = lane.sequence.evaluate(job.promptTokens as Token[], {
          temperature: settings.temperature, topK: settings.topK, topP: settings.topP, minP: 0, seed, yieldEogToken: true,
          ...(job.grammarState ? { grammarEvaluationState: job.grammarState() } : {}),
        });
        if (await advance(job, lane, completions)) return; // running; else it finished at once: the next one
      }
      lane.completion = undefined;
      await startPlaceholder(job, lane);
    };
    const span = Math.max(2, Math.min(job.sequences.length, settings.m));
    for (const sequence of job.sequences.slice(0, span)) {
      const lane: Lane = { sequence, stream: emptyStream(), completion: undefined };
      lanes.push(lane);
      await fill(lane);
    }
    while (lanes.some((lane) => lane.completion)) {
      // One step: every lane's next decode is queued in lane order before node-llama-cpp dispatches.
      const steps = lanes.map((lane) => lane.stream.next());
      const results = await Promise.all(steps);
      for (const [i, lane] of lanes.entries()) {
        const result = results[i]!;
        if (lane.completion) {
          if (!(await record(job, lane, result.done ? undefined : result.value, completions))) await fill(lane);
        } else if (result.done) {
          throw new Error("node-llama-cpp ended a placeholder evaluation");
        } else if (lane.sequence.nextTokenIndex >= job.contextSize - 2) {
          await startPlaceholder(job, lane); // the placeholder's history would outgrow the sequence
        }
      }
    }
  } finally {
    // Also after an error: no stream left open and nothing left in the sequences' KV cache.
    for (const lane of lanes) await lane.stream.return();
    await Promise.all(job.sequences.map((sequence) => sequence.clearHistory()));
  }
  return completions;
}

/** Takes the lane's first token (its evaluation runs alone); false when that already finished the completion. */
async function advance(job: SamplingJob, lane: Lane, completions: Completion[]): Promise<boolean> {
  const result = await lane.stream.next();
  return record(job, lane, result.done ? undefined : result.value, completions);
}

/**
 * Appends a sampled token; when that finishes the completion, stores it and frees the lane (returns
 * false). No token (the stream ended: a grammar that allows nothing more) counts as reaching the limit.
 */
async function record(job: SamplingJob, lane: Lane, token: number | undefined, completions: Completion[]): Promise<boolean> {
  const completion = lane.completion!;
  if (token !== undefined) completion.tokens.push(token);
  const finish = token === undefined ? { finishReason: "length" as const } : finishOf(completion.tokens, job.settings.maxTokens, job.stopMatcher, job.rules);
  if (!finish) return true;
  completions[completion.index] = {
    index: completion.index, seed: completion.seed, promptTokens: [...job.promptTokens], tokens: completion.tokens,
    text: job.rules.detokenize(completion.tokens), ...finish,
  };
  await lane.stream.return();
  await lane.sequence.clearHistory();
  lane.completion = undefined;
  return false;
}

/** Restarts the lane on a placeholder: one token, greedy, whose outputs are never read. */
async function startPlaceholder(job: SamplingJob, lane: Lane): Promise<void> {
  await lane.stream.return();
  await lane.sequence.clearHistory();
  lane.stream = lane.sequence.evaluate([job.promptTokens[0]! as Token], { temperature: 0, yieldEogToken: true });
  const result = await lane.stream.next();
  if (result.done) throw new Error("node-llama-cpp gave no token for a placeholder evaluation");
}

async function* emptyStream(): TokenStream {}

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
