// The OpenAI-compatible local server on a tiny model, driven by the real `openai` client over
// loopback HTTP: its API surface, 100 workflow executions under injected errors and hangs, and a
// batch run twice through the response cache.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CachingExecutor,
  evaluateWorkflow,
  Generator,
  loadBenchmark,
  OpenAIExecutor,
  ResponseCache,
  runWorkflow,
  startOpenAIServer,
  writeTinyModel,
  type WorkflowProblem,
  type WorkflowRunResult,
} from "../../src/index.js";
import { testDataDir } from "../benchmarks/dataDir.js";

let dir: string;
let modelPath: string;
let generator: Generator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "spogw-serve-"));
  modelPath = join(dir, "tiny.gguf");
  await writeTinyModel(modelPath, { arch: "qwen2", seed: 11, ctx: 2048 });
  generator = await Generator.load({ modelPath, threads: 1, sequences: 4 });
});

afterAll(async () => {
  await generator?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("the OpenAI-compatible server", () => {
  it("answers chat and text completions and lists its model; bad requests get 400 with a reason", async () => {
    const server = await startOpenAIServer({ generator, modelName: "tiny" });
    try {
      const client = new OpenAI({ baseURL: server.url, apiKey: "unused", maxRetries: 0 });
      const chat = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 8, temperature: 0 });
      expect(chat.choices[0]!.message.role).toBe("assistant");
      expect(typeof chat.choices[0]!.message.content).toBe("string");
      expect(["stop", "length"]).toContain(chat.choices[0]!.finish_reason);
      expect(chat.usage!.completion_tokens).toBeGreaterThan(0);
      expect(chat.usage!.completion_tokens).toBeLessThanOrEqual(8);
      const again = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 8, temperature: 0 });
      expect(again.choices[0]!.message.content).toBe(chat.choices[0]!.message.content);

      const text = await client.completions.create({ model: "tiny", prompt: "Once upon", max_tokens: 5, temperature: 0 });
      expect(text.choices[0]!.text.length).toBeGreaterThan(0);
      expect(text.usage!.completion_tokens).toBeLessThanOrEqual(5);
      expect((await client.models.list()).data.map((m) => m.id)).toEqual(["tiny"]);

      await expect(client.chat.completions.create({ model: "tiny", messages: [] })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/`messages` must be a non-empty array/) });
      await expect(client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x" }], max_tokens: 5000 })).rejects.toMatchObject({
        status: 400,
        message: expect.stringMatching(/exceed the context size/),
      });
      expect(server.counters.badRequests).toBe(2);
    } finally {
      await server.close();
    }
  });

  it("`npx spogw-native serve` starts, serves the openai client with the injected faults it was given, and stops on SIGINT", async () => {
    const args = ["src/cli/cli.ts", "serve", "--model", modelPath, "--port", "0", "--sequences", "1", "--error-rate", "0.5", "--fault-seed", "3"];
    const child = spawn(join(process.cwd(), "node_modules/.bin/vite-node"), args, { stdio: "pipe" });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const match = /at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.on("exit", (code) => reject(new Error(`serve exited early (${code}): ${out}`)));
      });
      const client = new OpenAI({ baseURL: url, apiKey: "unused", maxRetries: 0 });
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, () =>
          client.chat.completions.create({ model: "any", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 }).then(
            (reply) => (reply.choices.length === 1 ? "ok" : "malformed"),
            (error: { status?: number }) => error.status ?? "no status",
          ),
        ),
      );
      const failures = outcomes.filter((o) => o !== "ok");
      expect(failures.length).toBeGreaterThanOrEqual(3); // about half of 20
      expect(failures.length).toBeLessThanOrEqual(17);
      for (const status of failures) expect([429, 500, 503]).toContain(status);
    } finally {
      child.kill("SIGINT");
    }
    expect(await exited).toBe(0);
  }, 60_000);
});

describe("workflows against the server with 30% errors and 5% hangs injected", () => {
  it("finish all 100 executions within their deadlines; every failure is retried or recorded; no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const server = await startOpenAIServer({ generator, modelName: "tiny", faults: { errorRate: 0.3, hangRate: 0.05, seed: 7 } });
    const executor = new OpenAIExecutor({ baseURL: server.url, model: "tiny", timeoutMs: 3_000, maxRetries: 3, backoffMs: 20, maxBackoffMs: 200, concurrency: 8, maxTokens: 12 });
    const code = `async function workflow(ops) {
      const drafts = await Promise.all([ops.custom("Solve step by step."), ops.custom("Solve it another way.")]);
      return await ops.scEnsemble(drafts);
    }`;
    const wallMs = 30_000;
    const problems: WorkflowProblem[] = Array.from({ length: 100 }, (_, i) => ({ id: `toy-${i}`, family: "math", input: `What is ${i} + 1?` }));
    const results: WorkflowRunResult[] = [];
    try {
      let next = 0;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (next < problems.length) {
            const problem = problems[next++]!;
            results.push(await runWorkflow(code, problem, { executor, limits: { wallMs } }));
          }
        }),
      );
    } finally {
      await server.close();
      process.off("unhandledRejection", onUnhandled);
    }
    expect(results).toHaveLength(100);
    for (const r of results) {
      expect(r.durationMs).toBeLessThanOrEqual(wallMs + 2_000);
      expect(r.output !== null || r.error !== null).toBe(true);
      // A failed run says why: the executor gave up after its retries, or (on a starved machine) the deadline.
      if (r.error !== null) expect(r.error).toMatch(/ops\.(custom|scEnsemble) failed: (HTTP (429|500|503)|no response within 3000 ms).*\(after 4 attempts\)|^deadline of 30000 ms exceeded$/);
    }
    const stats = executor.stats();
    const { injectedErrors, injectedHangs, answered } = server.counters;
    expect(injectedErrors).toBeGreaterThan(50);
    expect(injectedHangs).toBeGreaterThan(5);
    // Every injected fault reached the executor as a failed attempt, which it either retried or gave up
    // on (recorded as the workflow's error). A slow genuine answer can also time out (the model serves
    // one batch at a time), so failed attempts may exceed the faults; every attempt reached the server.
    expect(stats.retries + stats.failures).toBeGreaterThanOrEqual(injectedErrors + injectedHangs);
    expect(stats.calls).toBe(server.counters.requests);
    expect(stats.calls - stats.retries - stats.failures).toBeLessThanOrEqual(answered);
    expect(results.filter((r) => r.error !== null)).toHaveLength(results.length - results.filter((r) => r.output !== null).length);
    expect(results.filter((r) => r.output !== null).length).toBeGreaterThan(80);
    expect(unhandled).toEqual([]);
  }, 300_000);
});

describe("the same batch twice through the response cache", () => {
  it("makes no executor call the second time and gives identical scores and outputs", async () => {
    const server = await startOpenAIServer({ generator, modelName: "tiny" });
    const problems = (await loadBenchmark("gsm8k", "train", { dataDir: testDataDir })).slice(0, 12);
    const code = `async function workflow(ops) {
      const a = await ops.custom("Solve step by step.");
      const b = await ops.custom("Solve step by step.");
      const best = await ops.scEnsemble([a, b]);
      return await ops.review(best);
    }`;
    const cachePath = join(dir, "batch-cache.sqlite");
    const evaluate = async () => {
      const inner = new OpenAIExecutor({ baseURL: server.url, model: "tiny", maxTokens: 12, timeoutMs: 30_000 });
      const cache = new ResponseCache(cachePath);
      try {
        const evaluation = await evaluateWorkflow(code, problems, { executor: new CachingExecutor(inner, cache), runs: 2, limits: { wallMs: 60_000 } });
        return { evaluation, calls: inner.stats().calls };
      } finally {
        cache.close();
      }
    };
    try {
      const first = await evaluate();
      const requestsAfterFirst = server.counters.requests;
      const second = await evaluate();
      expect(first.calls).toBeGreaterThan(0);
      expect(first.evaluation.runs.every((r) => r.error === null)).toBe(true);
      expect(second.calls).toBe(0);
      expect(server.counters.requests).toBe(requestsAfterFirst);
      const view = (e: typeof first.evaluation) => e.runs.map((r) => [r.problemId, r.run, r.score, r.output]);
      expect(view(second.evaluation)).toEqual(view(first.evaluation));
      expect(second.evaluation.meanScore).toBe(first.evaluation.meanScore);
    } finally {
      await server.close();
    }
  }, 300_000);
});
