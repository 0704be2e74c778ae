// The collect phase sampling through a generator server (in this process, behind a recording proxy):
// a query's attempts are kept as they arrive, so when the run stops inside a query (here: the server
// refuses its regeneration requests) the rerun replays the kept attempt instead of paying for it again,
// and ends with the samples an uninterrupted run stores.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Generator, startOpenAIServer, writeTinyModel, type RunningServer } from "../../src/index.js";
import { openRun, resolveConfig, runCollect, type WorkflowTask } from "../../src/pipeline/index.js";
import { choicesOf, startServerProxy, type Exchange } from "../helpers/serverProxy.js";

const work = mkdtempSync(join(tmpdir(), "spogw-remote-collect-"));
const model = join(work, "model.gguf");
let generator: Generator;
let server: RunningServer;

/** Workflows whose first token is even are invalid: about half of each attempt is regenerated. */
const parityTask: WorkflowTask = {
  name: "parity",
  simulated: true,
  queries: [{ id: "a", prompt: "first query\n" }, { id: "b", prompt: "second query\n" }],
  stop: [],
  parse: (completion) => (completion.tokens[0]! % 2 === 1 ? { ok: true, workflow: `odd ${completion.tokens[0]}` } : { ok: false, reason: "even first token" }),
  execute: async () => ({ score: 1, error: null, executorTokens: 0 }),
  async close() {},
};

beforeAll(async () => {
  await writeTinyModel(model, { arch: "llama", seed: 2, kvHeads: 2 });
  generator = await Generator.load({ modelPath: model, threads: 1, sequences: 6, exactKvCache: true });
  server = await startOpenAIServer({ generator, modelName: "tiny" });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await generator?.dispose();
  rmSync(work, { recursive: true, force: true });
});

const completionRequests = (exchanges: Exchange[]) => exchanges.filter((e) => e.path === "/v1/completions" && e.request.max_tokens !== 1); // not the probe

describe("collect through a generator server", () => {
  it("a run stopped inside a query replays the attempt it kept: no stored or kept completion is requested twice, and the samples equal an uninterrupted run's", async () => {
    const settings = { task: "simulated", generator: model, samplesPerQuery: 6, groupSize: 2, keep: 0, maxAttempts: 3, maxTokens: 4, scoreRuns: 1 };

    const clean = await startServerProxy(server.url);
    const reference = openRun(join(work, "reference"), resolveConfig({ ...settings, generatorUrl: clean.url }), parityTask);
    await runCollect(reference, 0);
    const expected = reference.store.samples(0);
    await reference.close();
    expect(expected.some((s) => s.attempts > 1)).toBe(true); // regenerations happened

    // The server answers the first two sampling requests (attempt 0 of each query, sent together) and
    // refuses the rest until told otherwise: each query stops inside, after its first attempt.
    let answered = 0;
    let refusing = true;
    const proxy = await startServerProxy(server.url, {
      intercept: (path, request) => {
        if (path !== "/v1/completions" || request.max_tokens === 1 || !refusing) return undefined; // the probe passes
        return answered++ < 2 ? undefined : { status: 400, body: { error: { message: "refused for the test" } } };
      },
    });
    try {
      const dir = join(work, "stopped");
      const config = resolveConfig({ ...settings, generatorUrl: proxy.url });
      const first = openRun(dir, config, parityTask);
      await expect(runCollect(first, 0)).rejects.toThrow(/HTTP 400: 400 refused for the test/);
      expect(first.store.samples(0)).toHaveLength(0);
      const kept = ["a", "b"].map((q) => [...first.store.sampleAttempts(0, q).keys()]);
      expect(kept).toEqual([[0], [0]]);
      await first.close();

      refusing = false;
      const second = openRun(dir, config, parityTask);
      await runCollect(second, 0);
      const samples = second.store.samples(0);
      expect(samples.map((s) => [s.queryId, s.sampleIndex, s.attempts, [...s.completionTokens], s.workflow])).toEqual(
        expected.map((s) => [s.queryId, s.sampleIndex, s.attempts, [...s.completionTokens], s.workflow]),
      );
      expect(["a", "b"].map((q) => second.store.sampleAttempts(0, q).size)).toEqual([0, 0]);
      await second.close();

      // Each attempt (its own seed) was answered once over both runs, as many as the uninterrupted run needed.
      const answeredSeeds = completionRequests(proxy.exchanges).filter((e) => e.status === 200).map((e) => e.request.seed);
      expect(new Set(answeredSeeds).size).toBe(answeredSeeds.length);
      expect(answeredSeeds.sort()).toEqual(completionRequests(clean.exchanges).map((e) => e.request.seed).sort());
      // Every stored completion is one the server sent.
      const served = completionRequests(proxy.exchanges).filter((e) => e.status === 200).flatMap((e) => choicesOf(e.response as Record<string, unknown>).map((c) => JSON.stringify(c.token_ids)));
      for (const s of samples) expect(served, `${s.queryId}/${s.sampleIndex}`).toContain(JSON.stringify([...s.completionTokens]));
    } finally {
      await proxy.close();
      await clean.close();
    }
  }, 180_000);
});
