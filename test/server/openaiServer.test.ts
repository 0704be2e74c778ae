// The OpenAI-compatible local server on a tiny model, driven by the real `openai` client over
// loopback HTTP: its API surface (in-process), the `serve` command in its own process with injected
// faults, 100 workflow executions against `serve` under injected errors and hangs, and a batch run
// twice through the response cache.
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
import { testDataDir } from "../helpers/dataDir.js";
import { startServeProcess, type ServeProcess } from "../helpers/serveProcess.js";

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

/** `spogw-native serve` on the tiny model in its own process. */
function startServeCli(extraArgs: string[]): Promise<ServeProcess> {
  return startServeProcess(["--model", modelPath, "--port", "0", ...extraArgs]);
}

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
    const serve = await startServeCli(["--sequences", "1", "--error-rate", "0.5", "--fault-seed", "3"]);
    let outcomes: Array<string | number>;
    try {
      const client = new OpenAI({ baseURL: serve.url, apiKey: "unused", maxRetries: 0 });
      outcomes = await Promise.all(
        Array.from({ length: 20 }, () =>
          client.chat.completions.create({ model: "any", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 }).then(
            (reply) => (reply.choices.length === 1 ? "ok" : "malformed"),
            (error: { status?: number }) => error.status ?? "no status",
          ),
        ),
      );
    } catch (error) {
      await serve.stop();
      throw error;
    }
    const stopped = await serve.stop();
    const failures = outcomes.filter((o) => o !== "ok");
    expect(failures.length).toBeGreaterThanOrEqual(3); // about half of 20
    expect(failures.length).toBeLessThanOrEqual(17);
    for (const status of failures) expect([429, 500, 503]).toContain(status);
    expect(stopped.exitCode).toBe(0);
    expect(stopped.output).toContain(`served 20 completion requests: ${20 - failures.length} answered, ${failures.length} injected errors, 0 injected hangs`);
  }, 60_000);
});

describe("workflows against the server with 30% errors and 5% hangs injected", () => {
  it("`serve` with --error-rate 0.3 --hang-rate 0.05: each of 100 executions ends with an answer or its stated reason (retries used up, or its deadline); no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    const serve = await startServeCli(["--sequences", "4", "--error-rate", "0.3", "--hang-rate", "0.05", "--fault-seed", "7"]);
    const executor = new OpenAIExecutor({ baseURL: serve.url, model: "tiny", timeoutMs: 3_000, maxRetries: 3, backoffMs: 20, maxBackoffMs: 200, concurrency: 8, maxTokens: 12 });
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
    } catch (error) {
      await serve.stop();
      throw error;
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    const stopped = await serve.stop();
    expect(stopped.exitCode).toBe(0);
    const summary = /served (\d+) completion requests: (\d+) answered, (\d+) injected errors, (\d+) injected hangs/.exec(stopped.output);
    expect(summary, stopped.output).not.toBeNull();
    const [requests, answered, injectedErrors, injectedHangs] = summary!.slice(1).map(Number) as [number, number, number, number];
    expect(results).toHaveLength(100);
    for (const r of results) {
      expect(r.output !== null || r.error !== null).toBe(true);
      // A failed run says why: the executor gave up after its retries, or (on a starved machine) the deadline.
      if (r.error !== null) expect(r.error).toMatch(/ops\.(custom|scEnsemble) failed: (HTTP (429|500|503)|no response within 3000 ms).*\(after 4 attempts\)|^deadline of 30000 ms exceeded$/);
    }
    const stats = executor.stats();
    expect(injectedErrors).toBeGreaterThan(50);
    expect(injectedHangs).toBeGreaterThan(5);
    // Every injected fault reached the executor as a failed attempt, which it either retried or gave up
    // on (recorded as the workflow's error). A slow genuine answer can also time out (the model serves
    // one batch at a time), so failed attempts may exceed the faults; every attempt reached the server.
    expect(stats.retries + stats.failures).toBeGreaterThanOrEqual(injectedErrors + injectedHangs);
    expect(stats.calls).toBe(requests);
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
