// What a completion request asks for, read and checked in one place: the sampling settings both routes
// share, and the /v1/completions extras a generator client needs (vLLM's dialect): a prompt of token
// ids, n completions, the sampled token ids (`return_token_ids`), per-token log-probs (`logprobs`,
// tokens named "token_id:N" with `return_tokens_as_token_ids`) and a grammar
// (`structured_outputs.grammar`). A field this server would silently ignore is refused instead.

/** A request the server refuses with 400 and this message. */
export class BadRequest extends Error {}

/** Most completions one request may ask for. */
export const MAX_N = 256;
/** Most alternatives per position `logprobs` may ask for (vLLM's default --max-logprobs). */
export const MAX_LOGPROBS = 20;

export interface SamplingRequest {
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
  stop: string[];
  /** Completion i is sampled with seed + i. */
  seed: number;
}

export interface TextCompletionRequest extends SamplingRequest {
  /** Text (tokenized by the server) or exact token ids. */
  prompt: string | number[];
  n: number;
  /** Alternatives per position besides the sampled token, or null for no log-probs. */
  logprobs: number | null;
  returnTokenIds: boolean;
  tokensAsTokenIds: boolean;
  /** GBNF, or "" for none. */
  grammar: string;
}

/** Fields that change what a completion means and that this server does not implement. */
const UNSUPPORTED: Array<[field: string, isDefault: (value: unknown) => boolean]> = [
  ["stream", (v) => v === false],
  ["echo", (v) => v === false],
  ["suffix", (v) => v === ""],
  ["best_of", (v) => v === 1],
  ["use_beam_search", (v) => v === false],
  ["logit_bias", (v) => typeof v === "object" && v !== null && Object.keys(v).length === 0],
  ["presence_penalty", (v) => v === 0],
  ["frequency_penalty", (v) => v === 0],
  ["repetition_penalty", (v) => v === 1],
  ["min_p", (v) => v === 0],
  ["prompt_logprobs", () => false],
  ["logprob_token_ids", () => false],
];

export function samplingRequest(body: Record<string, unknown>, defaultMaxTokens: number): SamplingRequest {
  for (const [field, isDefault] of UNSUPPORTED) {
    if (body[field] !== undefined && body[field] !== null && !isDefault(body[field])) throw new BadRequest(`\`${field}\` is not supported by this server`);
  }
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === "string" && s.length > 0)) throw new BadRequest("`stop` must be a string or an array of non-empty strings");
  const topK = numberField(body, "top_k", 0, (v) => Number.isInteger(v) && v >= -1);
  return {
    temperature: numberField(body, "temperature", 1, (v) => v >= 0),
    topP: numberField(body, "top_p", 1, (v) => v > 0 && v <= 1),
    topK: topK === -1 ? 0 : topK, // vLLM's "off"
    maxTokens: numberField(body, "max_tokens", defaultMaxTokens, (v) => Number.isInteger(v) && v >= 1),
    seed: numberField(body, "seed", 0, (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32),
    stop: stop as string[],
  };
}

export function textCompletionRequest(body: Record<string, unknown>, defaultMaxTokens: number): TextCompletionRequest {
  const sampling = samplingRequest(body, defaultMaxTokens);
  const n = numberField(body, "n", 1, (v) => Number.isInteger(v) && v >= 1 && v <= MAX_N);
  if (sampling.seed + n - 1 >= 2 ** 32) throw new BadRequest("`seed` + n - 1 must be below 2^32 (completion i is sampled with seed + i)");
  const logprobs = body.logprobs === undefined || body.logprobs === null ? null : numberField(body, "logprobs", 0, (v) => Number.isInteger(v) && v >= 0 && v <= MAX_LOGPROBS);
  return {
    ...sampling,
    prompt: completionPrompt(body.prompt),
    n,
    logprobs,
    returnTokenIds: booleanField(body, "return_token_ids"),
    tokensAsTokenIds: booleanField(body, "return_tokens_as_token_ids"),
    grammar: grammarOf(body.structured_outputs),
  };
}

/** A string, a one-element list of one, a list of token ids, or a one-element list of one. */
function completionPrompt(prompt: unknown): string | number[] {
  const single = Array.isArray(prompt) && prompt.length === 1 && (typeof prompt[0] === "string" || Array.isArray(prompt[0])) ? prompt[0] : prompt;
  if (typeof single === "string") return single;
  if (Array.isArray(single) && single.length > 0 && single.every((t) => Number.isInteger(t) && t >= 0)) return single as number[];
  throw new BadRequest("`prompt` must be a string or a non-empty list of token ids (one prompt per request)");
}

function grammarOf(structured: unknown): string {
  if (structured === undefined || structured === null) return "";
  if (typeof structured !== "object" || Array.isArray(structured)) throw new BadRequest("`structured_outputs` must be an object");
  const { grammar, ...others } = structured as Record<string, unknown>;
  const set = Object.entries(others).filter(([, v]) => v !== undefined && v !== null).map(([k]) => k);
  if (set.length > 0) throw new BadRequest(`structured_outputs.${set[0]} is not supported by this server (only grammar, in GBNF)`);
  if (grammar === undefined || grammar === null) return "";
  if (typeof grammar !== "string" || grammar.length === 0) throw new BadRequest("structured_outputs.grammar must be a non-empty GBNF string");
  return grammar;
}

function numberField(body: Record<string, unknown>, key: string, fallback: number, ok: (v: number) => boolean): number {
  const value = body[key] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) throw new BadRequest(`\`${key}\` is out of range: ${JSON.stringify(body[key])}`);
  return value;
}

function booleanField(body: Record<string, unknown>, key: string): boolean {
  const value = body[key] ?? false;
  if (typeof value !== "boolean") throw new BadRequest(`\`${key}\` must be true or false`);
  return value;
}
