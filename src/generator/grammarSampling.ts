// Grammar-constrained sampling: each completion runs through node-llama-cpp's sampler with a fresh
// grammar evaluation state, so tokens that would leave the grammar are never drawn and a completed
// grammar allows only the end-of-generation token. Free sequences take the next completion.
import { LlamaGrammarEvaluationState, type LlamaContextSequence, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { finishedCompletion, finishOf, type Completion, type SamplingJob } from "./lockstepSampling.js";

export async function sampleWithGrammar(job: SamplingJob, model: LlamaModel, grammar: LlamaGrammar): Promise<Completion[]> {
  const { sequences, promptTokens, settings, stopMatcher, rules } = job;
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
      completions[index] = finishedCompletion(job, index, seed, tokens, finish ?? { finishReason: "length" });
    }
  };
  await Promise.all(sequences.slice(0, Math.min(sequences.length, settings.m)).map(worker));
  return completions;
}
