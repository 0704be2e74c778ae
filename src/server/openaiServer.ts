// An OpenAI-compatible HTTP server backed by a local GGUF model (node-llama-cpp via src/generator):
// POST /v1/chat/completions, POST /v1/completions, GET /v1/models, and vLLM's runtime LoRA routes
// POST /v1/load_lora_adapter and /v1/unload_lora_adapter. Enough of the API for the `openai` client,
// the executors and a generator client (vLLM's dialect: token-id prompts, n, sampled token ids,
// per-token log-probs, adapters by model name); no streaming. Optional fault injection (errors, hangs,
// latency) makes it a test bed for retries and deadlines over real HTTP; an optional API key (Bearer,
// as vLLM's --api-key) guards every route. POST /tokenize answers as vLLM's does.
import { createHash, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chatFormatFor, renderChatPrompt, type ChatFormat } from "../executor/chatPrompt.js";
import type { ChatMessage } from "../executor/types.js";
import type { Generator } from "../generator/generator.js";
import { metadataString } from "../gguf/metadata.js";
import { Semaphore } from "../util/semaphore.js";
import { AdapterDirectories, AdapterFileError } from "./adapterFiles.js";
import { BadRequest, samplingRequest, textCompletionRequest } from "./completionRequest.js";
import { FaultInjector, type FaultOptions } from "./faults.js";
import { textCompletionChoices } from "./textCompletions.js";

export interface OpenAIServerOptions {
  generator: Generator;
  /** The base model's id. Without adapter directories any requested model name is answered by it. */
  modelName: string;
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  faults?: FaultOptions;
  /** Used when a request gives no max_tokens (default 256). */
  defaultMaxTokens?: number;
  /**
   * Directories adapters may be loaded from (POST /v1/load_lora_adapter); none: adapters cannot be
   * loaded. With any, a request must name the base model or a loaded adapter (404 otherwise, as vLLM).
   */
  loraDirs?: string[];
  /** When set, every /v1 request must carry `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
}

export interface ServerCounters {
  requests: number;
  answered: number;
  injectedErrors: number;
  injectedHangs: number;
  badRequests: number;
}

export interface RunningServer {
  /** Base URL for OpenAI clients, ending in /v1. */
  url: string;
  port: number;
  counters: ServerCounters;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1 << 20;
/** Adapters loaded at once (each is a file in the server's directory and a cached copy in llama.cpp). */
const MAX_ADAPTERS = 16;

class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly type: string,
  ) {
    super(message);
  }
}

interface LoadedAdapter {
  /** The path the client gave. */
  source: string;
  /** The server's own GGUF copy. */
  gguf: string;
}

export async function startOpenAIServer(options: OpenAIServerOptions): Promise<RunningServer> {
  const { generator, modelName } = options;
  const faults = new FaultInjector(options.faults);
  const chatFormat: ChatFormat = chatFormatFor(metadataString(generator.header.metadata, "tokenizer.chat_template"));
  const counters: ServerCounters = { requests: 0, answered: 0, injectedErrors: 0, injectedHangs: 0, badRequests: 0 };
  const adapterDirs = new AdapterDirectories(options.loraDirs ?? []);
  const adapters = new Map<string, LoadedAdapter>();
  const adapterStore = adapterDirs.enabled ? mkdtempSync(join(tmpdir(), "spogw-serve-adapters-")) : undefined;
  let adapterFiles = 0;
  const apiKeyDigest = options.apiKey === undefined ? undefined : digest(options.apiKey);
  // One model, one adapter at a time: choosing the adapter and sampling with it happen together.
  const modelLock = new Semaphore(1);
  const hanging = new Set<ServerResponse>();
  let created = 0;

  /** Runs `work` with the generator on `model`'s adapter (base model: none); `work` gets the name of what answers. */
  function withModel<T>(model: unknown, work: (served: string) => Promise<T>): Promise<T> {
    return modelLock.run(async () => {
      const adapter = adapterFor(model);
      if (generator.adapter?.path !== adapter?.gguf) await generator.setAdapter(adapter ? { path: adapter.gguf } : undefined);
      return work(adapter ? (model as string) : modelName);
    });
  }

  function adapterFor(model: unknown): LoadedAdapter | undefined {
    if (model === undefined || model === null || model === modelName) return undefined;
    if (typeof model !== "string") throw new BadRequest("`model` must be a string");
    const adapter = adapters.get(model);
    if (adapter) return adapter;
    if (!adapterDirs.enabled) return undefined;
    throw new HttpError(`The model \`${model}\` does not exist.`, 404, "NotFoundError");
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (apiKeyDigest && !authorized(req.headers.authorization, apiKeyDigest)) {
      return sendError(res, 401, "Unauthorized: this server needs `Authorization: Bearer <its --api-key>`", "authentication_error");
    }
    if (req.method === "GET" && path === "/v1/models") return sendJson(res, 200, { object: "list", data: modelCards() });
    if (req.method === "POST" && path === "/tokenize") return sendJson(res, 200, tokenized(await readJson(req)));
    if (req.method === "POST" && path === "/v1/load_lora_adapter") return loadAdapter(res, await readJson(req));
    if (req.method === "POST" && path === "/v1/unload_lora_adapter") return unloadAdapter(res, await readJson(req));
    const isChat = path === "/v1/chat/completions";
    if (req.method !== "POST" || (!isChat && path !== "/v1/completions")) {
      return sendError(res, 404, `no route for ${req.method} ${path}`, "not_found_error");
    }
    counters.requests++;
    const body = await readJson(req);
    const decision = faults.next();
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    if (decision.kind === "hang") {
      counters.injectedHangs++;
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return; // never answered; the client's timeout has to deal with it
    }
    if (decision.kind === "error") {
      counters.injectedErrors++;
      return sendError(res, decision.status, `injected fault (${decision.status})`, "server_error");
    }
    const answer = isChat ? await chatCompletion(body) : await textCompletion(body);
    counters.answered++;
    return sendJson(res, 200, answer);
  }

  async function chatCompletion(body: Record<string, unknown>): Promise<unknown> {
    const settings = samplingRequest(body, options.defaultMaxTokens ?? 256);
    if (body.n !== undefined && body.n !== 1) throw new BadRequest("only n = 1 is supported for chat completions");
    const prompt = renderChatPrompt(chatMessages(body), chatFormat);
    const { choice, usage, served } = await withModel(body.model, async (served) => {
      const completions = await sampleOrBadRequest(() => generator.sample(prompt, { m: 1, ...settings }));
      return { choice: textCompletionChoices(generator, completions, { logprobs: null, returnTokenIds: false, tokensAsTokenIds: false }, [])[0]!, usage: usageOf(completions), served };
    });
    return {
      id: `chatcmpl-${++created}`, object: "chat.completion", created: Math.floor(Date.now() / 1000), model: served, usage,
      choices: [{ index: 0, message: { role: "assistant", content: choice.text }, finish_reason: choice.finish_reason, logprobs: null }],
    };
  }

  async function textCompletion(body: Record<string, unknown>): Promise<unknown> {
    const request = textCompletionRequest(body, options.defaultMaxTokens ?? 256);
    const { choices, usage, served } = await withModel(body.model, async (served) => {
      const completions = await sampleOrBadRequest(() => generator.sample(request.prompt, {
        m: request.n, temperature: request.temperature, topP: request.topP, topK: request.topK, maxTokens: request.maxTokens,
        stop: request.stop, seed: request.seed, grammar: request.grammar,
      }));
      const scores = request.logprobs === null
        ? []
        : await Promise.all(completions.map((c) => generator.scoreTokens([...c.promptTokens, ...c.tokens], c.promptTokens.length, request.logprobs!)));
      return { choices: textCompletionChoices(generator, completions, request, scores), usage: usageOf(completions), served };
    });
    return { id: `cmpl-${++created}`, object: "text_completion", created: Math.floor(Date.now() / 1000), model: served, usage, choices };
  }

  /** vLLM's /tokenize: the prompt's token ids as a completion request would see them. */
  function tokenized(body: Record<string, unknown>): unknown {
    if (typeof body.prompt !== "string") throw new BadRequest("`prompt` must be a string");
    const tokens = generator.tokenize(body.prompt);
    return { count: tokens.length, max_model_len: generator.contextSize, tokens };
  }

  function modelCards(): unknown[] {
    const card = (id: string, root: string, parent: string | null) => ({ id, object: "model", created: 0, owned_by: "spogw-native", root, parent });
    return [card(modelName, generator.modelPath, null), ...[...adapters].map(([name, adapter]) => card(name, adapter.source, modelName))];
  }

  async function loadAdapter(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const { lora_name: name, lora_path: path, load_inplace: inplace } = body;
    if (typeof name !== "string" || name.length === 0 || name.length > 200 || typeof path !== "string" || path.length === 0) {
      throw new BadRequest("Both 'lora_name' (at most 200 characters) and 'lora_path' must be provided.");
    }
    if (name === modelName) throw new BadRequest(`'${name}' is the base model's name`);
    await modelLock.run(async () => {
      if (adapters.has(name) && inplace !== true) {
        throw new BadRequest(`The lora adapter '${name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`);
      }
      if (!adapters.has(name) && adapters.size >= MAX_ADAPTERS) throw new BadRequest(`${MAX_ADAPTERS} adapters are loaded: unload one first`);
      if (!adapterStore) throw new AdapterFileError("this server loads no adapters: start it with --lora-dir DIR", 403);
      const gguf = join(adapterStore, `${++adapterFiles}.gguf`);
      adapterDirs.copyAsGguf(path, gguf, generator.header);
      try {
        // Loading it now checks it against the model (our reader, a crash probe, llama.cpp), so a bad
        // adapter fails here and not in the first completion that names it.
        await generator.setAdapter({ path: gguf });
      } catch (error) {
        rmSync(gguf, { force: true });
        throw new BadRequest(`${path}: ${(error as Error).message}`);
      }
      const previous = adapters.get(name);
      if (previous) rmSync(previous.gguf, { force: true });
      adapters.set(name, { source: path, gguf });
    });
    sendText(res, 200, `Success: LoRA adapter '${name}' added successfully.`);
  }

  async function unloadAdapter(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const name = body.lora_name;
    if (typeof name !== "string" || name.length === 0) throw new BadRequest("'lora_name' needs to be provided to unload a LoRA adapter.");
    await modelLock.run(async () => {
      const adapter = adapters.get(name);
      if (!adapter) throw new HttpError(`The lora adapter '${name}' cannot be found.`, 404, "NotFoundError");
      if (generator.adapter?.path === adapter.gguf) await generator.setAdapter(undefined);
      adapters.delete(name);
      rmSync(adapter.gguf, { force: true });
    });
    sendText(res, 200, `Success: LoRA adapter '${name}' removed successfully.`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof BadRequest) {
        counters.badRequests++;
        return sendError(res, 400, error.message, "invalid_request_error");
      }
      if (error instanceof HttpError || error instanceof AdapterFileError) {
        return sendError(res, error.status, error.message, error instanceof HttpError ? error.type : "invalid_request_error");
      }
      sendError(res, 500, `internal error: ${(error as Error).message}`, "server_error");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/v1`,
    port: address.port,
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => {
          if (adapterStore) rmSync(adapterStore, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

/** A sampling failure caused by the request (e.g. a prompt longer than the context) is the client's error. */
function sampleOrBadRequest<T>(sample: () => Promise<T>): Promise<T> {
  return sample().catch((error: unknown) => {
    throw new BadRequest((error as Error).message);
  });
}

function usageOf(completions: ReadonlyArray<{ promptTokens: number[]; tokens: number[] }>) {
  const promptTokens = completions[0]?.promptTokens.length ?? 0;
  const completionTokens = completions.reduce((sum, c) => sum + c.tokens.length, 0);
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Compares digests in constant time, so the answer's timing says nothing about the key. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? "");
  return match !== null && timingSafeEqual(digest(match[1]!), expected);
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BadRequest(`request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("error", reject);
    req.on("end", () => {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
        resolve(parsed as Record<string, unknown>);
      } catch {
        reject(new BadRequest("the request body is not a JSON object"));
      }
    });
  });
}

function chatMessages(body: Record<string, unknown>): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw new BadRequest("`messages` must be a non-empty array");
  return messages.map((m: unknown, i) => {
    const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
    if (role !== "system" && role !== "user" && role !== "assistant") throw new BadRequest(`messages[${i}].role must be system, user or assistant`);
    if (typeof content !== "string") throw new BadRequest(`messages[${i}].content must be a string`);
    return { role, content };
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, type: string): void {
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}
