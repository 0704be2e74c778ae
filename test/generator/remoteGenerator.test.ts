// The generator client against a real server (`serve`'s server on a tiny model, in this process) and
// against that server's output rewritten into the other dialects a client meets (an older vLLM,
// llama.cpp's server, a text-only server, one that ignores n, a 503 period, a restart). Independent
// expectations: in-process sampling of the same model (same seeds give the same tokens) and the
// training engine's log-probs.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, Generator, startOpenAIServer, writeTinyModel, type RunningServer } from "../../src/index.js";
import { RemoteGenerator, type RemoteCompletion } from "../../src/generator/remoteGenerator.js";
import { RemoteCallError } from "../../src/util/remoteCall.js";
import { maxSampledTokenGap } from "../helpers/probabilityGap.js";
import { choicesOf, startServerProxy, type ServerProxy } from "../helpers/serverProxy.js";

const work = mkdtempSync(join(tmpdir(), "spogw-remote-"));
const loraDir = join(work, "adapters");
const modelPath = join(work, "qwen2.gguf");
const llamaPath = join(work, "llama.gguf");
const PROMPT = "<|im_start|>user\nWrite a workflow.<|im_end|>\n<|im_start|>assistant\n";
const OPTIONS = { m: 4, maxTokens: 24, seed: 17, temperature: 1, stop: ["\n\n"] };
/** Fast retries: the rules are the executor's, with test-sized waits. */
const RETRY = { backoffMs: 5, maxBackoffMs: 20, maxRetries: 4, timeoutMs: 20_000 };

let generator: Generator;
let server: RunningServer;
let engine: Engine;
let local: Awaited<ReturnType<Generator["sample"]>>;
const proxies: ServerProxy[] = [];
const clients: RemoteGenerator[] = [];

async function connect(baseURL: string, extra: { modelPath?: string } = {}): Promise<RemoteGenerator> {
  const client = await RemoteGenerator.connect({ baseURL, modelPath: extra.modelPath ?? modelPath, retry: RETRY });
  clients.push(client);
  return client;
}

async function proxy(...args: Parameters<typeof startServerProxy> extends [string, ...infer R] ? R : never): Promise<ServerProxy> {
  const p = await startServerProxy(server.url, ...args);
  proxies.push(p);
  return p;
}

/** Rejects unless `promise` fails with a RemoteCallError; returns it. */
async function failureOf(promise: Promise<unknown>): Promise<RemoteCallError> {
  const outcome = await promise.then(() => new Error("expected a failure"), (e: unknown) => e);
  if (!(outcome instanceof RemoteCallError)) throw outcome;
  return outcome;
}

function expectSameSamples(remote: RemoteCompletion[], expected: typeof local): void {
  expect(remote.map((c) => [c.index, c.seed, c.tokens, c.text, c.finishReason, c.stopString])).toEqual(
    expected.map((c) => [c.index, c.seed, c.tokens, c.text, c.finishReason, c.stopString]),
  );
}

beforeAll(async () => {
  mkdirSync(loraDir);
  await writeTinyModel(modelPath, { arch: "qwen2", seed: 5, kvHeads: 2, ctx: 512 });
  await writeTinyModel(llamaPath, { arch: "llama", seed: 5, kvHeads: 2, ctx: 512 });
  engine = await Engine.load(modelPath, { threads: 1 });
  engine.initLora({ rank: 4, alpha: 8, init: "random", seed: 3 });
  await engine.saveLora(join(loraDir, "one-peft"), { format: "peft" });
  await engine.saveLora(join(work, "one.gguf")); // the same adapter, for the engine that checks the server
  generator = await Generator.load({ modelPath, threads: 1, sequences: 4, exactKvCache: true });
  server = await startOpenAIServer({ generator, modelName: "tiny", loraDirs: [loraDir] });
  local = await generator.sample(PROMPT, OPTIONS);
}, 120_000);

afterAll(async () => {
  for (const client of clients) await client.close();
  for (const p of proxies) await p.close();
  await server?.close();
  await generator?.dispose();
  engine?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe("the generator client against serve", () => {
  it("samples m completions in one request (n = m) with the ids, texts and finish reasons of in-process sampling; the server's log-probs equal the engine's", async () => {
    const recorder = await proxy();
    const client = await connect(recorder.url);
    expect(client.baseModel).toBe("tiny");
    const remote = await client.sample("tiny", PROMPT, OPTIONS);
    expectSameSamples(remote, local);
    const completionRequests = recorder.exchanges.filter((e) => e.path === "/v1/completions");
    // The tokenizer probe, then one request for all four completions, with the prompt as token ids.
    expect(completionRequests.map((e) => e.request.n)).toEqual([undefined, 4]);
    expect(completionRequests[1]!.request.prompt).toEqual(local[0]!.promptTokens);
    // Every sampling setting is explicit, so no server default (vLLM applies generation_config.json's) changes the distribution.
    expect(completionRequests[1]!.request).toMatchObject({ temperature: 1, top_p: 1, top_k: -1, min_p: 0, repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0, seed: 17 });
    // The ids stored are the server's own, not a re-tokenization of its text.
    expect(remote.map((c) => c.tokens)).toEqual(choicesOf(completionRequests[1]!.response as Record<string, unknown>).map((c) => c.token_ids));
    await comparePerTokenLogprobs(remote, null);
  });

  it("samples from an adapter loaded from a PEFT directory: the engine with that adapter gives the server's log-probs within 1e-5", async () => {
    const client = await connect(server.url);
    await client.loadAdapter("one", join(loraDir, "one-peft"));
    const remote = await client.sample("one", PROMPT, OPTIONS);
    expect(remote.map((c) => c.tokens)).not.toEqual(local.map((c) => c.tokens));
    await comparePerTokenLogprobs(remote, join(work, "one.gguf"));
    // Loading it again from the same path keeps it; the same name from another path is refused.
    await client.loadAdapter("one", join(loraDir, "one-peft"));
    const other = await failureOf(client.loadAdapter("one", join(loraDir, "elsewhere")));
    expect(other.message).toMatch(/already has an adapter named one, loaded from .*one-peft, not .*elsewhere/);
    await client.unloadAdapter("one");
    await client.unloadAdapter("one"); // not there any more: fine
  });

  it("refuses a server that serves another model: the probe text tokenizes differently (BOS)", async () => {
    const error = await failureOf(connect(server.url, { modelPath: llamaPath }));
    expect(error.message).toMatch(/is not serving .*llama\.gguf: it tokenizes a probe text into (\d+) tokens, the GGUF into (\d+) \(first difference at token 0\)/);
  });
});

describe("the generator client against other servers' dialects (serve's output rewritten)", () => {
  it("an older vLLM (ids only as logprobs \"token_id:N\", no prompt_token_ids): the same samples; the tokenizer is checked through /tokenize", async () => {
    const older = await proxy({
      rewrite: (_path, answer) => {
        for (const choice of choicesOf(answer)) {
          delete choice.token_ids;
          delete choice.prompt_token_ids;
        }
        return answer;
      },
    });
    const remote = await (await connect(older.url)).sample("tiny", PROMPT, OPTIONS);
    expectSameSamples(remote, local);
    expect(older.exchanges.map((e) => e.path)).toContain("/tokenize");
    expect(remote.every((c) => c.logprobs !== null && c.logprobs.length === c.tokens.length)).toBe(true);
  });

  it("llama.cpp's server (ids and log-probs in logprobs.content[]): the same samples and log-probs", async () => {
    const viaContent = await proxy({
      rewrite: (_path, answer) => {
        for (const choice of choicesOf(answer)) {
          const logprobs = choice.logprobs as { tokens: string[]; token_logprobs: number[] } | null;
          delete choice.token_ids;
          if (logprobs) {
            choice.logprobs = { content: logprobs.tokens.map((t, i) => ({ id: Number(t.slice("token_id:".length)), token: "?", logprob: logprobs.token_logprobs[i] })) };
          }
        }
        return answer;
      },
    });
    const direct = await (await connect(server.url)).sample("tiny", PROMPT, OPTIONS);
    const remote = await (await connect(viaContent.url)).sample("tiny", PROMPT, OPTIONS);
    expectSameSamples(remote, local);
    expect(remote.map((c) => c.logprobs)).toEqual(direct.map((c) => c.logprobs));
  });

  it("a server that ignores n: one request per completion (seed + i), the same samples", async () => {
    const single = await proxy({
      rewrite: (_path, answer) => ({ ...answer, ...(Array.isArray(answer.choices) ? { choices: choicesOf(answer).slice(0, 1) } : {}) }),
    });
    const client = await connect(single.url);
    expectSameSamples(await client.sample("tiny", PROMPT, OPTIONS), local);
    expectSameSamples(await client.sample("tiny", PROMPT, OPTIONS), local);
    const sent = single.exchanges.filter((e) => e.path === "/v1/completions").slice(1).map((e) => [e.request.n, e.request.seed]);
    // First call: n = 4 answered with one choice, then the other three alone; later calls go one by one.
    expect(sent).toEqual([[4, 17], [1, 18], [1, 19], [1, 20], [1, 17], [1, 18], [1, 19], [1, 20]]);
  });

  it("a server that returns text only is refused at connect, naming the fields looked for; one that stops returning ids mid-run is refused without retries", async () => {
    const stripIds = (answer: Record<string, unknown>) => {
      for (const choice of choicesOf(answer)) {
        delete choice.token_ids;
        delete choice.prompt_token_ids;
        choice.logprobs = null;
      }
      return answer;
    };
    const textOnly = await proxy({ rewrite: (_path, answer) => stripIds(answer) });
    const refused = await failureOf(connect(textOnly.url));
    expect(refused.message).toMatch(/returns text only \(looked for choices\[\]\.token_ids .*return_token_ids.*"token_id:N".*logprobs\.content\[\]\.id.*choices\[\]\.tokens/);

    let strip = false;
    const turning = await proxy({ rewrite: (_path, answer) => (strip ? stripIds(answer) : answer) });
    const client = await connect(turning.url);
    strip = true;
    const before = turning.exchanges.length;
    const error = await failureOf(client.sample("tiny", PROMPT, OPTIONS));
    expect(error.message).toMatch(/returned no sampled token ids .*not re-tokenized text/);
    expect(turning.exchanges.length - before).toBe(1);
  });

  it("a 503 period: each request is retried with backoff until the server answers; nothing is lost", async () => {
    let unavailable = 3;
    const flaky = await proxy({
      intercept: (path) => (path === "/v1/completions" && unavailable-- > 0 ? { status: 503, body: { error: { message: "overloaded" } } } : undefined),
    });
    unavailable = 0; // connect first
    const client = await connect(flaky.url);
    unavailable = 3;
    const before = client.stats();
    expectSameSamples(await client.sample("tiny", PROMPT, OPTIONS), local);
    const after = client.stats();
    expect([after.retries - before.retries, after.failures - before.failures, after.requests - before.requests]).toEqual([3, 0, 1]);

    unavailable = 100; // longer than the retries last: a clear error
    const error = await failureOf(client.sample("tiny", PROMPT, OPTIONS));
    expect(error.message).toBe("HTTP 503: 503 overloaded (after 5 attempts)");
  });

  it("an adapter lost in a server restart is loaded again and the request repeated: the same samples", async () => {
    const restartDir = join(loraDir, "restart");
    mkdirSync(restartDir);
    await engine.saveLora(join(restartDir, "peft"), { format: "peft" });
    const first = await startOpenAIServer({ generator, modelName: "tiny", loraDirs: [loraDir] });
    const front = await startServerProxy(first.url);
    proxies.push(front);
    const client = await connect(front.url);
    await client.loadAdapter("restart", join(restartDir, "peft"));
    const before = await client.sample("restart", PROMPT, OPTIONS);
    await first.close();
    const second = await startOpenAIServer({ generator, modelName: "tiny", loraDirs: [loraDir] });
    try {
      front.target = new URL(second.url).origin;
      const after = await client.sample("restart", PROMPT, OPTIONS);
      expect(after.map((c) => c.tokens)).toEqual(before.map((c) => c.tokens));
      expect(client.stats().adapterReloads).toBe(1);
      const paths = front.exchanges.slice(-3).map((e) => [e.path, e.status]);
      expect(paths).toEqual([["/v1/completions", 404], ["/v1/load_lora_adapter", 200], ["/v1/completions", 200]]);
    } finally {
      await second.close();
    }
  });
});

/**
 * Every sampled token's server log-prob against the engine's (temperature 1, with the GGUF adapter
 * `adapter` or the base model): equal within 1e-5 in probability, with an F32 KV cache on the server.
 */
async function comparePerTokenLogprobs(remote: RemoteCompletion[], adapter: string | null): Promise<void> {
  const gap = await maxSampledTokenGap(modelPath, adapter, remote.map((c) => ({ promptTokens: c.promptTokens, tokens: c.tokens, logprobs: c.logprobs! })));
  expect(gap.tokens).toBeGreaterThan(20);
  expect(gap.worst).toBeLessThan(1e-5);
}
