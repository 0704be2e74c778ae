// What a caller may ask of Generator.sample, with defaults and range checks in one place.

export interface SampleOptions {
  /** Completions to sample. */
  m: number;
  /** 0 = greedy (default 1). */
  temperature?: number;
  /** Nucleus sampling threshold in (0, 1] (default 1 = off). */
  topP?: number;
  /** Keep only the k most likely tokens; 0 = off (default 0). */
  topK?: number;
  /** Most tokens per completion, end-of-generation token included (default 256). */
  maxTokens?: number;
  /** Generation stops once the completion text contains one of these (control tokens have no text: use finishReason "eog" for them). */
  stop?: string[];
  /**
   * Completion i is sampled with seed + i (default 0). Its tokens depend only on the prompt, seed + i,
   * the model, the adapter and these options: not on m, on the completions sampled beside it, on the
   * generator's sequence or thread count, nor on timing.
   */
  seed?: number;
  /**
   * A GBNF grammar (llama.cpp's grammar format) the completions must follow, for weak generators:
   * tokens that would leave the grammar are never sampled, and a completed grammar ends with the
   * end-of-generation token. "" = unconstrained (default).
   */
  grammar?: string;
}

/** Fills in defaults and refuses values llama.cpp would misread or that make no sense. */
export function resolveSampleOptions(options: SampleOptions): Required<SampleOptions> {
  const settings: Required<SampleOptions> = {
    m: options.m,
    temperature: options.temperature ?? 1,
    topP: options.topP ?? 1,
    topK: options.topK ?? 0,
    maxTokens: options.maxTokens ?? 256,
    stop: options.stop ?? [],
    seed: options.seed ?? 0,
    grammar: options.grammar ?? "",
  };
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new Error(message);
  };
  check(Number.isInteger(settings.m) && settings.m >= 1, `m must be a positive whole number, got ${settings.m}`);
  check(Number.isFinite(settings.temperature) && settings.temperature >= 0, `temperature must be >= 0, got ${settings.temperature}`);
  check(settings.topP > 0 && settings.topP <= 1, `topP must be in (0, 1], got ${settings.topP}`);
  check(Number.isInteger(settings.topK) && settings.topK >= 0, `topK must be a whole number >= 0, got ${settings.topK}`);
  check(Number.isInteger(settings.maxTokens) && settings.maxTokens >= 1, `maxTokens must be a positive whole number, got ${settings.maxTokens}`);
  check(typeof settings.grammar === "string", "grammar must be a GBNF string");
  // llama.cpp seeds are 32-bit and completion i uses seed + i.
  check(Number.isInteger(settings.seed) && settings.seed >= 0 && settings.seed + settings.m - 1 <= 0xffffffff,
    `seed must be a whole number from 0 to 2^32 - m, got ${settings.seed}`);
  return settings;
}
