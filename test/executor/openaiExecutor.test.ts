// The OpenAI-compatible executor with the real `openai` client over loopback HTTP: retries with
// backoff on 429/5xx/network errors/timeouts, no retry on other 4xx, Retry-After, per-call timeout,
// bounded concurrency, token and cost accounting, clear errors for bad responses, and a key that
// never appears in what the executor reports.
import { inspect } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ExecutorError, OpenAIExecutor, openAIExecutorOptionsFromEnv } from "../../src/index.js";
import { chatBody, startScriptedServer, type ScriptedServer } from "../helpers/scriptedServer.js";

const secretKey = "sk-test-DO-NOT-LEAK-7f3a9c";
const ask = { messages: [{ role: "user" as const, content: "Hello?" }] };
let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The rejection of `promise`; fails the test when it resolves. */
async function failureOf(promise: Promise<unknown>): Promise<ExecutorError> {
  const outcome = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  if (!(outcome instanceof ExecutorError)) throw new Error(`expected an ExecutorError, got ${String(outcome)}`);
  return outcome;
}

function executorFor(url: string, extra: Partial<ConstructorParameters<typeof OpenAIExecutor>[0]> = {}): OpenAIExecutor {
  return new OpenAIExecutor({ baseURL: url, model: "m", apiKey: secretKey, backoffMs: 10, maxBackoffMs: 200, timeoutMs: 2_000, ...extra });
}

describe("OpenAIExecutor", () => {
  it("sends model, messages, temperature 0 by default and the key as a bearer token; returns text and usage", async () => {
    server = await startScriptedServer([{ status: 200, body: chatBody("Hi there", { prompt_tokens: 1000, completion_tokens: 500 }) }]);
    const executor = executorFor(server.url, { prices: { promptPerMillion: 0.15, completionPerMillion: 0.6 } });
    const result = await executor.complete({ ...ask, seed: 3 });
    expect(result).toMatchObject({ text: "Hi there", finishReason: "stop", cached: false, usage: { promptTokens: 1000, completionTokens: 500 } });
    const sent = server.requests[0]!;
    expect(sent.body).toMatchObject({ model: "m", temperature: 0, seed: 3, messages: ask.messages });
    expect(sent.headers.authorization).toBe(`Bearer ${secretKey}`);
    // 1000 * 0.15/1e6 + 500 * 0.6/1e6
    expect(executor.stats()).toMatchObject({ calls: 1, retries: 0, promptTokens: 1000, completionTokens: 500 });
    expect(executor.stats().costUsd).toBeCloseTo(0.00045, 10);
  });

  it("retries 429 (honouring Retry-After), 500, 503 and a dropped connection, then succeeds", async () => {
    server = await startScriptedServer([
      { status: 429, headers: { "retry-after": "0.1" } },
      { status: 500 },
      { destroy: true },
      { status: 503 },
      { status: 200, body: chatBody("finally") },
    ]);
    const executor = executorFor(server.url, { maxRetries: 4 });
    // The waits it schedules: with backoffMs 10 the exponential backoff stays under 100 ms for these four
    // retries, so a wait of exactly 100 ms is the server's Retry-After of 0.1 s.
    const timers = vi.spyOn(globalThis, "setTimeout");
    try {
      await expect(executor.complete(ask)).resolves.toMatchObject({ text: "finally" });
      expect(timers.mock.calls.map(([, ms]) => ms)).toContain(100);
    } finally {
      timers.mockRestore();
    }
    expect(server.requests).toHaveLength(5);
    expect(executor.stats()).toMatchObject({ calls: 5, retries: 4, failures: 0 });
  });

  it("gives up after maxRetries with the last reason and the number of attempts", async () => {
    server = await startScriptedServer([{ status: 502 }]);
    const executor = executorFor(server.url, { maxRetries: 2 });
    const error = await failureOf(executor.complete(ask));
    expect((error as ExecutorError).message).toMatch(/^HTTP 502: .* \(after 3 attempts\)$/);
    expect(server.requests).toHaveLength(3);
    expect(executor.stats()).toMatchObject({ failures: 1, retries: 2 });
  });

  it("does not retry 400/401/404", async () => {
    for (const status of [400, 401, 404]) {
      const s = await startScriptedServer([{ status }, { status: 200, body: chatBody("no") }]);
      const error = await failureOf(executorFor(s.url).complete(ask));
      expect(error).toMatchObject({ reason: "http", status });
      expect(s.requests).toHaveLength(1);
      await s.close();
    }
  });

  it("times out a hung call per attempt and retries it", async () => {
    server = await startScriptedServer([{ hang: true }, { status: 200, body: chatBody("after a hang") }]);
    const executor = executorFor(server.url, { timeoutMs: 300 });
    await expect(executor.complete(ask)).resolves.toMatchObject({ text: "after a hang" });
    expect(executor.stats().retries).toBe(1);
    const allHang = await startScriptedServer([{ hang: true }]);
    const error = await failureOf(executorFor(allHang.url, { timeoutMs: 200, maxRetries: 1 }).complete(ask));
    expect(error).toMatchObject({ reason: "timeout" });
    expect(error.message).toBe("no response within 200 ms (after 2 attempts)");
    await allHang.close();
  });

  it("stops at once when the caller aborts, without further attempts", async () => {
    server = await startScriptedServer([{ hang: true }]);
    const controller = new AbortController();
    const pending = executorFor(server.url, { timeoutMs: 10_000 }).complete(ask, { signal: controller.signal });
    await vi.waitFor(() => expect(server!.requests).toHaveLength(1), { timeout: 10_000 }); // the call is in flight
    controller.abort();
    await expect(pending).rejects.toMatchObject({ reason: "aborted" });
    expect(server.requests).toHaveLength(1);
  });

  it("reports a response without message content clearly", async () => {
    server = await startScriptedServer([{ status: 200, body: { choices: [] } }]);
    const error = await failureOf(executorFor(server.url, { maxRetries: 1 }).complete(ask));
    expect(error).toMatchObject({ reason: "bad-response" });
    expect(error.message).toMatch(/bad response from http:\/\/127\.0\.0\.1:\d+\/v1: no choices\[0\]\.message\.content \(got an object with keys choices\)/);
  });

  it("keeps at most `concurrency` requests open at once", async () => {
    server = await startScriptedServer([{ status: 200, body: chatBody("ok"), delayMs: 50 }]);
    const executor = executorFor(server.url, { concurrency: 3 });
    await Promise.all(Array.from({ length: 10 }, () => executor.complete(ask)));
    expect(server.requests).toHaveLength(10);
    expect(server.peakOpen).toBe(3);
  });

  it("never shows the key in errors, stats or an inspected executor", async () => {
    server = await startScriptedServer([{ status: 401, body: { error: { message: "invalid key" } } }]);
    const executor = executorFor(server.url);
    const error = await failureOf(executor.complete(ask));
    const everything = [error.message, error.stack, JSON.stringify(executor.stats()), inspect(executor, { depth: 10 }), JSON.stringify(executor)].join("\n");
    expect(everything).not.toContain(secretKey);
  });

  it("takes URL, model and key from flags first, then the environment", () => {
    const env = { SPOGW_EXECUTOR_URL: "http://127.0.0.1:1/v1", SPOGW_EXECUTOR_KEY: "k-env", SPOGW_EXECUTOR_MODEL: "env-model" };
    expect(openAIExecutorOptionsFromEnv({}, env)).toMatchObject({ baseURL: "http://127.0.0.1:1/v1", apiKey: "k-env", model: "env-model" });
    expect(openAIExecutorOptionsFromEnv({ baseURL: "http://127.0.0.1:2/v1", model: "flag" }, env)).toMatchObject({ baseURL: "http://127.0.0.1:2/v1", model: "flag" });
    expect(() => openAIExecutorOptionsFromEnv({}, {})).toThrow(/no executor URL/);
  });
});
