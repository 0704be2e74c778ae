// A loopback HTTP proxy in front of a real server: it records every exchange (request and JSON
// answer), and can rewrite answers into another server's dialect (an older vLLM, llama.cpp's server, a
// text-only server) or answer requests itself (a 503 period), so a client is tested against real
// model output in each shape. The target may change (a restarted server on another port).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Exchange {
  /** When the request arrived (Date.now()). */
  receivedAt: number;
  method: string;
  /** The path below the proxy's root, e.g. "/v1/completions". */
  path: string;
  request: Record<string, unknown>;
  status: number;
  /** The JSON the client received (after any rewrite), or the text. */
  response: unknown;
}

export interface ProxyOptions {
  /** Replaces a JSON answer of the target (called with the request's path and body). */
  rewrite?(path: string, answer: Record<string, unknown>, request: Record<string, unknown>): Record<string, unknown>;
  /** Answers a request without the target: return a status and body, or undefined to forward it. */
  intercept?(path: string, request: Record<string, unknown>): { status: number; body: unknown } | undefined;
  /** Milliseconds to wait before forwarding a request (a slow server). */
  delayMs?(path: string): number;
}

export interface ServerProxy {
  /** The proxy's base URL ending in /v1. */
  url: string;
  /** Origin (scheme://host:port) requests are forwarded to. */
  target: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

/** `targetUrl`: the real server's base URL (ending in /v1). */
export async function startServerProxy(targetUrl: string, options: ProxyOptions = {}): Promise<ServerProxy> {
  const proxy: ServerProxy = { url: "", target: new URL(targetUrl).origin, exchanges: [], close: async () => {} };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const request = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    const path = req.url ?? "/";
    const reply = (status: number, body: unknown) => {
      proxy.exchanges.push({ receivedAt, method: req.method ?? "GET", path, request, status, response: body });
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
      res.end(text);
    };
    const intercepted = options.intercept?.(path, request);
    if (intercepted) return reply(intercepted.status, intercepted.body);
    const delay = options.delayMs?.(path) ?? 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (req.headers.authorization) headers.authorization = req.headers.authorization;
    const answer = await fetch(`${proxy.target}${path}`, { method: req.method ?? "GET", headers, ...(req.method === "POST" ? { body: raw } : {}) });
    const text = await answer.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // a text answer (vLLM's load_lora_adapter says "Success: ...")
    }
    if (answer.ok && options.rewrite && body !== null && typeof body === "object") body = options.rewrite(path, body as Record<string, unknown>, request);
    reply(answer.status, body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply502(res, error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

/** The target is down (e.g. restarting): what a load balancer in front of it would answer. */
function reply502(res: ServerResponse, error: unknown): void {
  res.writeHead(502, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message: `proxy: ${(error as Error).message}` } }));
}

/** The choices of a /v1/completions answer, for rewrites. */
export function choicesOf(answer: Record<string, unknown>): Array<Record<string, unknown>> {
  return (answer.choices as Array<Record<string, unknown>> | undefined) ?? [];
}
