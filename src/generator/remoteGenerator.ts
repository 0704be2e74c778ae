// The generator sampled by a serving engine over HTTP (vLLM, llama.cpp's server, `spogw-native serve`)
// while training stays local. What makes it exact:
//  - the GGUF the engine trains is the server's model: checked once by tokenizing a probe text on both
//    sides (the server's prompt_token_ids, else its /tokenize route);
//  - prompts go out as token ids, and the sampled token ids come back from the server (vLLM's
//    `token_ids`, or its log-probs' "token_id:N" names, or llama.cpp's log-prob ids): the engine never
//    trains on re-tokenized text, and a server that returns text only is refused;
//  - the server's log-prob of every sampled token is kept, so the sampler/trainer gap is measurable;
//  - adapters are loaded into the server by name (vLLM's runtime LoRA API); one lost to a server
//    restart is loaded again and the request repeated.
// m samples of a prompt are one request with n = m where the server honours n; requests in flight are
// bounded, and each is retried with backoff on 429/5xx/timeouts by the rules every remote call follows
// (src/util/remoteCall.ts). The API key is only in the client's request headers: never logged or stored.
import OpenAI from "openai";
import { callWithRetries, DEFAULT_RETRY_RULES, describeShape, firstLine, RemoteCallError, type CallCounters, type RetryRules } from "../util/remoteCall.js";
import { Semaphore } from "../util/semaphore.js";
import type { Completion } from "./lockstepSampling.js";
import { resolveSampleOptions, type SampleOptions } from "./sampleOptions.js";
import { StopStringMatcher } from "./stopStrings.js";
import { GgufVocabulary } from "./vocabulary.js";

/** The environment variable a run reads the generator server's API key from (never a setting: settings are stored). */
export const GENERATOR_KEY_ENV = "SPOGW_GENERATOR_KEY";

export interface RemoteGeneratorOptions {
  /** The server's OpenAI-compatible base URL, e.g. http://gpu-node:8000/v1. */
  baseURL: string;
  /** The base model's id on the server; absent: the one base model GET /models lists. */
  model?: string;
  /** Sent as `Authorization: Bearer`; never logged. */
  apiKey?: string;
  /** The GGUF model the server must be serving (the training engine's). */
  modelPath: string;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  retry?: Partial<RetryRules>;
}

export interface RemoteCompletion extends Completion {
  /** The server's log-probability of each sampled token, or null when it gave none. */
  logprobs: number[] | null;
}

export interface RemoteGeneratorStats extends CallCounters {
  /** Completion requests answered (one request carries n completions). */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Adapters loaded again because the server no longer had them (it restarted). */
  adapterReloads: number;
}

/** Text whose tokenization on the server must equal the GGUF's: ASCII, code, digits, multi-byte UTF-8, whitespace runs. */
export const TOKENIZER_PROBE = "SPOGW probe: def f(x):\n    return x * 42  # héllo, 日本語 🙂\t{\"a\": [1, 2.5]}\n\n";

/** Where the sampled token ids may be in a choice, for the error that names them. */
const ID_FIELDS = "choices[].token_ids (vLLM: return_token_ids), choices[].logprobs.tokens as \"token_id:N\" (vLLM: logprobs + return_tokens_as_token_ids), choices[].logprobs.content[].id (llama.cpp server: logprobs), choices[].tokens (llama.cpp: return_tokens)";

interface Choice {
  index?: unknown;
  finish_reason?: unknown;
  token_ids?: unknown;
  prompt_token_ids?: unknown;
  tokens?: unknown;
  logprobs?: { tokens?: unknown; token_logprobs?: unknown; content?: unknown } | null;
}

export class RemoteGenerator {
  #client: OpenAI;
  private readonly slots: Semaphore;
  private readonly rules: RetryRules;
  private readonly counters: RemoteGeneratorStats = { calls: 0, retries: 0, failures: 0, requests: 0, promptTokens: 0, completionTokens: 0, adapterReloads: 0 };
  /** Adapters this client loaded, by name: where the server reads them. */
  private readonly adapters = new Map<string, string>();
  /** False once the server answered n > 1 with one choice: then each completion is its own request. */
  private honoursN = true;

  private constructor(
    readonly baseURL: string,
    /** The base model's id on the server. */
    readonly baseModel: string,
    readonly vocabulary: GgufVocabulary,
    client: OpenAI,
    rules: RetryRules,
    concurrency: number,
  ) {
    this.#client = client;
    this.rules = rules;
    this.slots = new Semaphore(concurrency);
  }

  /**
   * Connects to the server: finds its base model, checks that it tokenizes like `modelPath` and that
   * it returns sampled token ids. Every failure names the server and what to fix.
   */
  static async connect(options: RemoteGeneratorOptions): Promise<RemoteGenerator> {
    const rules = { ...DEFAULT_RETRY_RULES, ...options.retry };
    const client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey ?? "no-key", maxRetries: 0, timeout: rules.timeoutMs });
    const vocabulary = await GgufVocabulary.load(options.modelPath);
    try {
      const cards = await listModels(client, rules, options.baseURL);
      const baseModel = chooseBaseModel(cards, options.model, options.baseURL);
      const generator = new RemoteGenerator(options.baseURL, baseModel, vocabulary, client, rules, options.concurrency ?? 8);
      await generator.checkServer(options.modelPath);
      return generator;
    } catch (error) {
      await vocabulary.dispose();
      throw error;
    }
  }

  stats(): RemoteGeneratorStats {
    return { ...this.counters };
  }

  /**
   * Makes adapter `name` (its files at `path` as the server sees them: a PEFT directory for vLLM) available
   * as a model. An adapter of that name the server already holds from the same path is kept.
   */
  async loadAdapter(name: string, path: string): Promise<void> {
    try {
      await this.call(() => this.#client.post("/load_lora_adapter", { body: { lora_name: name, lora_path: path } }));
    } catch (error) {
      if (!(error instanceof RemoteCallError && error.status === 400 && /already been loaded/.test(error.message))) {
        throw new RemoteCallError(`the generator server at ${this.baseURL} could not load adapter ${name} from ${path}: ${error instanceof Error ? error.message : String(error)}`, "config");
      }
      const card = (await listModels(this.#client, this.rules, this.baseURL)).find((c) => c.id === name);
      if (card?.root !== undefined && card.root !== path) {
        throw new RemoteCallError(`the generator server at ${this.baseURL} already has an adapter named ${name}, loaded from ${card.root}, not ${path}`, "config");
      }
    }
    this.adapters.set(name, path);
  }

  /** Frees adapter `name` on the server; one it does not have is fine. */
  async unloadAdapter(name: string): Promise<void> {
    this.adapters.delete(name);
    try {
      await this.call(() => this.#client.post("/unload_lora_adapter", { body: { lora_name: name } }));
    } catch (error) {
      if (!(error instanceof RemoteCallError && (error.status === 404 || error.status === 400))) throw error;
    }
  }

  /**
   * `options.m` completions of `prompt` from `model` (the base model's id or a loaded adapter's name).
   * Completion i is sampled with seed + i where the server honours per-request seeds that way (vLLM
   * seeds the request; `serve` seeds completion i with seed + i).
   */
  async sample(model: string, prompt: string | readonly number[], options: SampleOptions): Promise<RemoteCompletion[]> {
    const settings = resolveSampleOptions(options);
    const promptTokens = typeof prompt === "string" ? this.vocabulary.tokenize(prompt) : [...prompt];
    const bad = promptTokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= this.vocabulary.size);
    if (bad >= 0 || promptTokens.length === 0) throw new Error(bad >= 0 ? `prompt[${bad}] = ${promptTokens[bad]} is not a token id of this model` : "the prompt has no tokens");
    const request = (n: number, seed: number) => this.complete(model, promptTokens, settings, n, seed);
    let completions: RemoteCompletion[] = [];
    if (this.honoursN || settings.m === 1) {
      completions = await request(settings.m, settings.seed);
      if (completions.length === 1 && settings.m > 1) this.honoursN = false; // answered n with one choice: completion 0
      else if (completions.length !== settings.m) throw new RemoteCallError(`the generator server at ${this.baseURL} answered n = ${settings.m} with ${completions.length} choices`, "bad-response");
    }
    const rest = await Promise.all(Array.from({ length: settings.m - completions.length }, (_, j) => request(1, settings.seed + completions.length + j)));
    return [...completions, ...rest.flat()].map((completion, index) => ({ ...completion, index, seed: settings.seed + index }));
  }

  async close(): Promise<void> {
    await this.vocabulary.dispose();
  }

  /** One completion request (n choices), bounded and retried; an adapter the server lost is loaded again once. */
  private async complete(model: string, promptTokens: number[], settings: Required<SampleOptions>, n: number, seed: number): Promise<RemoteCompletion[]> {
    // Every sampling setting is explicit: a server fills what a request leaves out from its own defaults
    // (vLLM takes the model's generation_config.json, e.g. top_k 20 and repetition_penalty 1.05 for
    // Qwen2.5-Instruct), and the trainer assumes softmax(logits / temperature) with these filters only.
    const body: Record<string, unknown> = {
      model, prompt: promptTokens, n, max_tokens: settings.maxTokens, temperature: settings.temperature, top_p: settings.topP, seed,
      top_k: settings.topK > 0 ? settings.topK : -1, min_p: 0, repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0,
      ...(settings.stop.length > 0 ? { stop: settings.stop } : {}),
      ...(settings.grammar !== "" ? { structured_outputs: { grammar: settings.grammar } } : {}),
      logprobs: 1, return_token_ids: true, return_tokens_as_token_ids: true, return_tokens: true,
    };
    // A malformed answer is retried like a failed one; one that shows the wrong server is not.
    const post = () => this.call(async () => this.completionsOf(await this.#client.post<unknown>("/completions", { body }), promptTokens, settings));
    const completions = await this.slots.run(async () => {
      try {
        return await post();
      } catch (error) {
        const path = this.adapters.get(model);
        if (!(error instanceof RemoteCallError && error.status === 404 && path !== undefined)) throw error;
        this.counters.adapterReloads++;
        this.adapters.delete(model);
        await this.loadAdapter(model, path);
        return post();
      }
    });
    this.counters.requests++;
    for (const c of completions) {
      this.counters.promptTokens += c.promptTokens.length;
      this.counters.completionTokens += c.tokens.length;
    }
    return completions;
  }

  private completionsOf(response: unknown, promptTokens: number[], settings: Required<SampleOptions>): RemoteCompletion[] {
    const choices = (response as { choices?: unknown })?.choices;
    if (!Array.isArray(choices) || choices.length === 0) throw new RemoteCallError(`bad response from ${this.baseURL}: no choices (got ${describeShape(response)})`, "bad-response");
    return (choices as Choice[])
      .slice()
      .sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0))
      .map((choice) => this.completionOf(choice, promptTokens, settings));
  }

  private completionOf(choice: Choice, promptTokens: number[], settings: Required<SampleOptions>): RemoteCompletion {
    const tokens = sampledTokenIds(choice);
    if (tokens === null) {
      throw new RemoteCallError(`the generator server at ${this.baseURL} returned no sampled token ids (looked for ${ID_FIELDS}); training needs the exact ids it sampled, not re-tokenized text`, "config");
    }
    const outside = tokens.find((t) => t >= this.vocabulary.size);
    if (outside !== undefined) throw new RemoteCallError(`the generator server at ${this.baseURL} sampled token ${outside}, outside this model's ${this.vocabulary.size} tokens: it serves another model`, "config");
    if (Array.isArray(choice.prompt_token_ids) && choice.prompt_token_ids.join(",") !== promptTokens.join(",")) {
      throw new RemoteCallError(`the generator server at ${this.baseURL} conditioned on other prompt tokens than the ${promptTokens.length} it was sent`, "config");
    }
    const logprobs = sampledLogprobs(choice, tokens.length);
    const text = this.vocabulary.detokenize(tokens);
    return { index: 0, seed: 0, promptTokens: [...promptTokens], tokens, text, ...this.finishOf(tokens, text, choice.finish_reason, settings), logprobs };
  }

  /** Decided from the tokens with this model's vocabulary, as in-process sampling decides it. */
  private finishOf(tokens: number[], text: string, serverReason: unknown, settings: Required<SampleOptions>): Pick<Completion, "finishReason" | "stopString"> {
    const last = tokens[tokens.length - 1];
    if (last !== undefined && this.vocabulary.isEndOfGeneration(last)) return { finishReason: "eog" };
    const stopString = new StopStringMatcher(settings.stop).find(text);
    if (stopString !== undefined) return { finishReason: "stop", stopString };
    return serverReason === "stop" && tokens.length < settings.maxTokens ? { finishReason: "stop" } : { finishReason: "length" };
  }

  /** The tokenizer check and the token-id check, with one short completion of the probe text. */
  private async checkServer(modelPath: string): Promise<void> {
    const response = await this.call(() =>
      this.#client.post<unknown>("/completions", {
        body: { model: this.baseModel, prompt: TOKENIZER_PROBE, max_tokens: 1, temperature: 0, logprobs: 1, return_token_ids: true, return_tokens_as_token_ids: true, return_tokens: true },
      }),
    );
    const choice = ((response as { choices?: unknown })?.choices as Choice[] | undefined)?.[0];
    if (!choice) throw new RemoteCallError(`bad response from ${this.baseURL}: no choices (got ${describeShape(response)})`, "bad-response");
    if (sampledTokenIds(choice) === null) {
      throw new RemoteCallError(`the generator server at ${this.baseURL} returns text only (looked for ${ID_FIELDS}); training needs the exact token ids it samples. Use vLLM >= 0.10.2 or \`spogw-native serve\``, "config");
    }
    const theirs = Array.isArray(choice.prompt_token_ids) ? (choice.prompt_token_ids as number[]) : await this.tokenizeOnServer(TOKENIZER_PROBE);
    const ours = this.vocabulary.tokenize(TOKENIZER_PROBE);
    if (theirs.join(",") !== ours.join(",")) {
      const at = ours.findIndex((t, i) => theirs[i] !== t);
      throw new RemoteCallError(
        `the generator server at ${this.baseURL} (model ${this.baseModel}) is not serving ${modelPath}: it tokenizes a probe text into ${theirs.length} tokens, ` +
          `the GGUF into ${ours.length} (first difference at token ${at < 0 ? ours.length : at}). Serve the model the GGUF was converted from`,
        "config",
      );
    }
  }

  /** Token ids of `text` from the server's /tokenize route (vLLM and llama.cpp both have one at the server's root). */
  private async tokenizeOnServer(text: string): Promise<number[]> {
    const root = this.baseURL.replace(/\/+$/, "").replace(/\/v1$/, "");
    const response = await this.call(() => this.#client.post<unknown>(`${root}/tokenize`, { body: { model: this.baseModel, prompt: text, content: text } }));
    const tokens = (response as { tokens?: unknown })?.tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) {
      throw new RemoteCallError(`the generator server at ${this.baseURL} gave no prompt_token_ids and its /tokenize answered ${describeShape(response)}: its tokenizer cannot be checked`, "config");
    }
    return tokens as number[];
  }

  private call<T>(attempt: () => Promise<T>): Promise<T> {
    return callWithRetries(attempt, this.rules, { counters: this.counters });
  }
}

interface ModelCard {
  id: string;
  parent?: string | null;
  root?: string;
}

async function listModels(client: OpenAI, rules: RetryRules, baseURL: string): Promise<ModelCard[]> {
  const response = await callWithRetries(() => client.get<unknown>("/models"), rules);
  const data = (response as { data?: unknown })?.data;
  if (!Array.isArray(data) || !data.every((c) => typeof c?.id === "string")) {
    throw new RemoteCallError(`bad response from ${baseURL}/models: no list of models (got ${describeShape(response)})`, "bad-response");
  }
  return data as ModelCard[];
}

function chooseBaseModel(cards: ModelCard[], wanted: string | undefined, baseURL: string): string {
  const ids = cards.map((c) => c.id);
  if (wanted !== undefined) {
    if (!ids.includes(wanted)) throw new RemoteCallError(`the generator server at ${baseURL} has no model ${wanted} (it lists: ${ids.join(", ") || "none"})`, "config");
    return wanted;
  }
  const bases = cards.filter((c) => !c.parent).map((c) => c.id);
  if (bases.length !== 1) {
    throw new RemoteCallError(`the generator server at ${baseURL} lists ${bases.length} base models (${bases.join(", ") || "none"}): name one with --generator-model`, "config");
  }
  return bases[0]!;
}

function isTokenIds(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((t) => Number.isInteger(t) && t >= 0);
}

/** The sampled ids from whichever field the server filled (see ID_FIELDS), or null for text only. */
export function sampledTokenIds(choice: Choice): number[] | null {
  if (isTokenIds(choice.token_ids)) return choice.token_ids;
  const logprobs = choice.logprobs;
  if (logprobs && Array.isArray(logprobs.tokens) && logprobs.tokens.length > 0) {
    const ids = logprobs.tokens.map((t) => (typeof t === "string" ? /^token_id:(\d+)$/.exec(t)?.[1] : undefined));
    if (ids.every((id) => id !== undefined)) return ids.map(Number);
  }
  if (logprobs && Array.isArray(logprobs.content) && logprobs.content.length > 0) {
    const ids = logprobs.content.map((c: { id?: unknown } | null) => c?.id);
    if (isTokenIds(ids)) return ids;
  }
  if (isTokenIds(choice.tokens)) return choice.tokens;
  return null;
}

/** The server's log-prob of each sampled token (OpenAI's token_logprobs or llama.cpp's content[].logprob), or null. */
function sampledLogprobs(choice: Choice, count: number): number[] | null {
  const logprobs = choice.logprobs;
  if (!logprobs) return null;
  const values = Array.isArray(logprobs.token_logprobs)
    ? logprobs.token_logprobs
    : Array.isArray(logprobs.content)
      ? logprobs.content.map((c: { logprob?: unknown } | null) => c?.logprob)
      : null;
  if (values === null) return null;
  if (values.length !== count || !values.every((v) => typeof v === "number" && Number.isFinite(v))) {
    throw new RemoteCallError(`bad log-probs from the generator server: ${values.length} values for ${count} sampled tokens (${firstLine(JSON.stringify(values.slice(0, 4)))}...)`, "bad-response");
  }
  return values as number[];
}
