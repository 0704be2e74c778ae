// A loopback HTTP server that plays a script of responses to /v1/chat/completions, one per request
// (the last repeats), and counts requests and the peak number open at once. For testing the OpenAI
// executor's handling of statuses, Retry-After, hangs and malformed bodies with the real client.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ScriptStep =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | { hang: true }
  | { destroy: true };

export interface ScriptedServer {
  url: string;
  requests: Array<{ headers: IncomingMessage["headers"]; body: Record<string, unknown> }>;
  peakOpen: number;
  close(): Promise<void>;
}

export function chatBody(text: string, usage = { prompt_tokens: 10, completion_tokens: 5 }): unknown {
  return {
    id: "x", object: "chat.completion", created: 0, model: "scripted",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

export async function startScriptedServer(script: ScriptStep[] | ((request: number) => ScriptStep)): Promise<ScriptedServer> {
  const state: ScriptedServer = { url: "", requests: [], peakOpen: 0, close: async () => {} };
  let open = 0;
  const hanging = new Set<ServerResponse>();
  const stepFor = (n: number): ScriptStep => (typeof script === "function" ? script(n) : script[Math.min(n, script.length - 1)]!);
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk: Buffer) => (raw += chunk.toString()));
    req.on("end", () => {
      const index = state.requests.length;
      state.requests.push({ headers: req.headers, body: JSON.parse(raw || "{}") as Record<string, unknown> });
      open++;
      state.peakOpen = Math.max(state.peakOpen, open);
      res.on("close", () => {
        open--;
        hanging.delete(res);
      });
      const step = stepFor(index);
      if ("hang" in step) return void hanging.add(res);
      if ("destroy" in step) return void req.socket.destroy();
      setTimeout(() => {
        res.writeHead(step.status, { "content-type": "application/json", ...step.headers });
        res.end(JSON.stringify(step.body ?? { error: { message: `scripted ${step.status}` } }));
      }, step.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise((resolve) => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
