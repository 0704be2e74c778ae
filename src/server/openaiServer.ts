// An OpenAI-compatible HTTP server backed by a local GGUF model (node-llama-cpp via src/generator):
// POST /v1/chat/completions, POST /v1/completions, GET /v1/models. Enough of the API for the `openai`
// client and the executors; no streaming. Optional fault injection (errors, hangs, latency) makes it
// a test bed for the executors' retries and deadlines over real HTTP.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { chatFormatFor, renderChatPrompt, type ChatFormat } from "../executor/chatPrompt.js";
import { completeText } from "../executor/embeddedExecutor.js";
import type { ChatMessage } from "../executor/types.js";
import type { Generator } from "../generator/generator.js";
import { metadataString } from "../gguf/metadata.js";
import { FaultInjector, type FaultOptions } from "./faults.js";

export interface OpenAIServerOptions {
  generator: Generator;
  /** The model id the server reports and accepts (any requested model name is answered by this one). */
  modelName: string;
  port?: number;
  /** Default 127.0.0.1: the server has no authentication. */
  host?: string;
  faults?: FaultOptions;
  /** Used when a request gives no max_tokens (default 256). */
  defaultMaxTokens?: number;
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

class BadRequest extends Error {}

export async function startOpenAIServer(options: OpenAIServerOptions): Promise<RunningServer> {
  const { generator, modelName } = options;
  const faults = new FaultInjector(options.faults);
  const chatFormat: ChatFormat = chatFormatFor(metadataString(generator.header.metadata, "tokenizer.chat_template"));
  const counters: ServerCounters = { requests: 0, answered: 0, injectedErrors: 0, injectedHangs: 0, badRequests: 0 };
  const hanging = new Set<ServerResponse>();
  let created = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0];
    if (req.method === "GET" && path === "/v1/models") {
      return sendJson(res, 200, { object: "list", data: [{ id: modelName, object: "model", created: 0, owned_by: "spogw-native" }] });
    }
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
    const settings = samplingSettings(body, options.defaultMaxTokens ?? 256);
    const prompt = isChat ? renderChatPrompt(chatMessages(body), chatFormat) : completionPrompt(body);
    const completion = await completeText(generator, prompt, settings).catch((error: unknown) => {
      throw new BadRequest((error as Error).message); // e.g. prompt longer than the context
    });
    const usage = {
      prompt_tokens: completion.usage.promptTokens,
      completion_tokens: completion.usage.completionTokens,
      total_tokens: completion.usage.promptTokens + completion.usage.completionTokens,
    };
    const id = `${isChat ? "chatcmpl" : "cmpl"}-${++created}`;
    const createdAt = Math.floor(Date.now() / 1000);
    counters.answered++;
    if (isChat) {
      return sendJson(res, 200, {
        id, object: "chat.completion", created: createdAt, model: modelName, usage,
        choices: [{ index: 0, message: { role: "assistant", content: completion.text }, finish_reason: completion.finishReason, logprobs: null }],
      });
    }
    return sendJson(res, 200, {
      id, object: "text_completion", created: createdAt, model: modelName, usage,
      choices: [{ index: 0, text: completion.text, finish_reason: completion.finishReason, logprobs: null }],
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof BadRequest) {
        counters.badRequests++;
        return sendError(res, 400, error.message, "invalid_request_error");
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
        server.close(() => resolve());
      }),
  };
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

function completionPrompt(body: Record<string, unknown>): string {
  const prompt = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof prompt !== "string") throw new BadRequest("`prompt` must be a string");
  return prompt;
}

function samplingSettings(body: Record<string, unknown>, defaultMaxTokens: number) {
  if (body.stream === true) throw new BadRequest("streaming is not supported by this server");
  if (body.n !== undefined && body.n !== 1) throw new BadRequest("only n = 1 is supported");
  const number = (key: string, fallback: number, ok: (v: number) => boolean): number => {
    const value = body[key] ?? fallback;
    if (typeof value !== "number" || !ok(value)) throw new BadRequest(`\`${key}\` is out of range: ${JSON.stringify(body[key])}`);
    return value;
  };
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === "string")) throw new BadRequest("`stop` must be a string or an array of strings");
  return {
    temperature: number("temperature", 1, (v) => v >= 0 && v <= 2),
    maxTokens: number("max_tokens", defaultMaxTokens, (v) => Number.isInteger(v) && v >= 1),
    seed: number("seed", 0, (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 31),
    stop: stop as string[],
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, type: string): void {
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}
