// Grammar-constrained sampling: each completion runs through node-llama-cpp's sampler with a fresh
// grammar evaluation state, so tokens that would leave the grammar are never drawn and a completed
// grammar allows only the end-of-generation token. Free sequences take the next completion.
import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { finishOf, type Completion, type TokenRules } from "./lockstepSampling.js";
import type { SampleOptions } from "./sampleOptions.js";
import type { StopStringMatcher } from "./stopStrings.js";

export async function sampleWithGrammar(
  model: LlamaModel,
  grammar: LlamaGrammar,
  sequences: readonly LlamaContextSequence[],
  promptTokens: readonly number[],
  settings: Required<SampleOptions>,
  stopMatcher: StopStringMatcher,
  rules: TokenRules,
): Promise<Completion[]> {
  const completions: Completion[] = new Array(settings.m);
  let nextIndex = 0;
  const worker = async (sequence: LlamaContextSequence) => {
    while (nextIndex < settings.m) {
      const index = nextIndex++;
      const seed = settings.seed + index;
      const tokens: number[] = [];
      let finish: Pick<Completion, "finishReason" | "stopString"> | undefined;
      try {
        const stream = sequence.evaluate(promptTokens as Token[], {
          temperature: settings.temperature, topK: settings.topK, topP: settings.topP, minP: 0, seed,
          grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar }), yieldEogToken: true,
        });
        for await (const token of stream) {
          tokens.push(token);
          finish = finishOf(tokens, settings.maxTokens, stopMatcher, rules);
          if (finish) break;
        }
      } finally {
        await sequence.clearHistory();
      }
      // A stream that ends without a token of its own (nothing allowed) counts as reaching the limit.
      finish ??= { finishReason: "length" };
      completions[index] = { index, seed, promptTokens: [...promptTokens], tokens, text: rules.detokenize(tokens), ...finish };
    }
  };
  await Promise.all(sequences.slice(0, Math.min(sequences.length, settings.m)).map(worker));
  return completions;
}
