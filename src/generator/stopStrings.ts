// Finding stop strings in generated text without re-decoding the whole completion after every token.

export class StopStringMatcher {
  /** Tokens to decode from the end: enough to hold the longest stop string even at 1 byte per token. */
  readonly tailTokens: number;

  constructor(readonly stopStrings: readonly string[]) {
    if (stopStrings.some((s) => s.length === 0)) throw new Error("stop strings must not be empty");
    const longestBytes = Math.max(0, ...stopStrings.map((s) => Buffer.byteLength(s)));
    // +3: a partial UTF-8 character at the start of the tail decodes to U+FFFD and must not hide a match.
    this.tailTokens = longestBytes + 3;
  }

  /** The first stop string found in `tailText` (the decoded last `tailTokens` tokens), if any. */
  find(tailText: string): string | undefined {
    return this.stopStrings.find((s) => tailText.includes(s));
  }
}

/**
 * A completion's text as an OpenAI-style API returns it: cut where its stop string begins (the
 * completion's tokens still hold everything that was sampled).
 */
export function textBeforeStop(completion: { text: string; stopString?: string }): string {
  if (completion.stopString === undefined) return completion.text;
  const at = completion.text.indexOf(completion.stopString);
  return at >= 0 ? completion.text.slice(0, at) : completion.text;
}
