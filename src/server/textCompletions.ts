// Completions as /v1/completions choices in vLLM's shape: the text up to the stop string, finish_reason
// "stop" (stop string or end of generation) or "length", stop_reason (the stop string, else null),
// and on request the sampled token ids with the prompt's (`token_ids`, `prompt_token_ids`) and
// OpenAI-style log-probs (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`).
import type { Completion, TokenScore } from "../generator/generator.js";
import { textBeforeStop } from "../generator/stopStrings.js";

export interface ChoiceOptions {
  /** Alternatives per position, or null for no log-probs. */
  logprobs: number | null;
  returnTokenIds: boolean;
  /** Tokens named "token_id:N" instead of their text (vLLM's return_tokens_as_token_ids). */
  tokensAsTokenIds: boolean;
}

export interface CompletionChoice {
  index: number;
  text: string;
  finish_reason: "stop" | "length";
  stop_reason: string | null;
  logprobs: CompletionLogprobs | null;
  token_ids?: number[];
  prompt_token_ids?: number[];
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  /** Per position: the sampled token first, then the most likely ones (as many as asked). */
  top_logprobs: Array<Record<string, number>>;
  text_offset: number[];
}

/** `scores[i]`: completion i's token scores (from Generator.scoreTokens), when log-probs were asked for. */
export function textCompletionChoices(
  vocabulary: { detokenize(tokens: readonly number[]): string },
  completions: readonly Completion[],
  options: ChoiceOptions,
  scores: readonly TokenScore[][],
): CompletionChoice[] {
  const name = (token: number) => (options.tokensAsTokenIds ? `token_id:${token}` : vocabulary.detokenize([token]));
  return completions.map((completion, i) => {
    let logprobs: CompletionLogprobs | null = null;
    if (options.logprobs !== null) {
      const tokenScores = scores[i]!;
      const tokens = completion.tokens.map(name);
      let offset = 0;
      logprobs = {
        tokens,
        token_logprobs: tokenScores.map((s) => s.logprob),
        top_logprobs: tokenScores.map((s, j) => Object.fromEntries([[tokens[j]!, s.logprob], ...s.top.map((t) => [name(t.token), t.logprob] as const)])),
        text_offset: tokens.map((token) => {
          const at = offset;
          offset += token.length;
          return at;
        }),
      };
    }
    return {
      index: i,
      text: textBeforeStop(completion),
      finish_reason: completion.finishReason === "length" ? "length" : "stop",
      stop_reason: completion.stopString ?? null,
      logprobs,
      ...(options.returnTokenIds ? { token_ids: completion.tokens, prompt_token_ids: completion.promptTokens } : {}),
    };
  });
}
