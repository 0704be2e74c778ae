// The run store: records round-trip exactly (token ids, float32 log-probs, float64 advantages), keys
// refuse duplicates, a query's samples are written all-or-nothing, and the store reopens where it was.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createSimulatedTask, openRun, resolveConfig, RunStore, type SampleRecord } from "../../src/pipeline/index.js";

const work = mkdtempSync(join(tmpdir(), "spogw-store-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sample = (queryId: string, sampleIndex: number, tokens: number[]): SampleRecord => ({
  iteration: 0, queryId, sampleIndex, attempts: 1, seed: 42 + sampleIndex, promptTokens: Int32Array.from([1, 2]),
  completionTokens: Int32Array.from(tokens), text: `t${sampleIndex}`, workflow: sampleIndex === 1 ? null : "w", invalidReason: sampleIndex === 1 ? "no program" : null,
  sampler: "local:base", samplerLogprobs: sampleIndex === 0 ? Float32Array.from(tokens.map((_, i) => -0.5 * (i + 1))) : null,
});

describe("run store", () => {
  it("round-trips every record exactly and reopens with what was committed", () => {
    const dir = join(work, "a");
    let store = RunStore.open(dir);
    store.setQueryIds(["q-b", "q-a"]);
    store.putQuerySamples([sample("q-a", 0, [5, -1, 2 ** 31 - 1]), sample("q-a", 1, [])]);
    store.putQuerySamples([sample("q-b", 0, [7])]);
    store.putExecution({ iteration: 0, queryId: "q-a", sampleIndex: 0, run: 0, score: 1 / 3, error: null, executorTokens: 1234, reward: 1 / 3 - 0.1234 });
    const policy = Float32Array.from([-0.1, -2.5e-8, -30]);
    store.putLogprobs(0, "q-a", 0, policy, null);
    store.putGroups(0, [{ groupIndex: 0, queryId: "q-a", members: [1, 0], scores: [0, 1 / 3], advantages: [-1, 1 / 3 + 1e-17], variance: 1 / 36 }], { groups: 1 });
    store.close();

    store = RunStore.open(dir);
    expect(store.queryIds()).toEqual(["q-b", "q-a"]);
    const samples = store.samples(0);
    // Ordered by query position (q-b first), then sample index.
    expect(samples.map((s) => [s.queryId, s.sampleIndex])).toEqual([["q-b", 0], ["q-a", 0], ["q-a", 1]]);
    expect([...samples[1]!.completionTokens]).toEqual([5, -1, 2 ** 31 - 1]);
    expect(samples[2]!.completionTokens.length).toBe(0);
    expect([samples[2]!.workflow, samples[2]!.invalidReason]).toEqual([null, "no program"]);
    expect(store.executions(0)[0]).toMatchObject({ score: 1 / 3, executorTokens: 1234, reward: 1 / 3 - 0.1234 });
    expect([...store.logprobs(0).get("q-a\t0")!.policy]).toEqual([...policy]);
    const [group] = store.groups(0);
    expect(group!.advantages).toEqual([-1, 1 / 3 + 1e-17]);
    expect(group!.variance).toBe(1 / 36);
    expect(store.phaseSummary(0, "dataset")).toEqual({ groups: 1 });
    expect(store.phaseSummary(0, "update")).toBeUndefined();
    expect(store.counts()).toEqual([{ iteration: 0, samples: 3, executions: 1, groups: 1, logprobs: 1, updateSteps: 0, phasesDone: ["dataset"] }]);
    store.close();
  });

  it("refuses duplicate keys and writes a query's samples all or nothing", () => {
    const store = RunStore.open(join(work, "b"));
    store.setQueryIds(["q"]);
    store.putExecution({ iteration: 0, queryId: "q", sampleIndex: 0, run: 0, score: 0, error: null, executorTokens: 0, reward: 0 });
    expect(() => store.putExecution({ iteration: 0, queryId: "q", sampleIndex: 0, run: 0, score: 1, error: null, executorTokens: 0, reward: 1 })).toThrow(/UNIQUE/);
    expect(() => store.putQuerySamples([sample("q", 0, [1]), sample("q", 0, [2])])).toThrow(/UNIQUE/);
    expect(store.samples(0)).toEqual([]);
    expect(() => store.markPhaseDone(0, "collect", {})).not.toThrow();
    expect(() => store.markPhaseDone(0, "collect", {})).toThrow(/UNIQUE/);
    store.close();
  });
});

describe("a store written before executor tokens and rewards were recorded", () => {
  it("gains the columns on opening; its executions read 0 tokens and their score as the reward", () => {
    const dir = join(work, "old");
    mkdirSync(dir);
    const db = new Database(join(dir, "run.sqlite"));
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE queries (position INTEGER PRIMARY KEY, query_id TEXT NOT NULL UNIQUE);
      CREATE TABLE executions (iteration INTEGER NOT NULL, query_id TEXT NOT NULL, sample_index INTEGER NOT NULL, run INTEGER NOT NULL,
        score REAL NOT NULL, error TEXT, PRIMARY KEY (iteration, query_id, sample_index, run));
      INSERT INTO meta VALUES ('schema', '1');
      INSERT INTO queries VALUES (0, 'q');
      INSERT INTO executions VALUES (0, 'q', 0, 0, 0.75, NULL);`);
    db.close();
    const store = RunStore.open(dir);
    expect(store.executions(0)).toEqual([{ iteration: 0, queryId: "q", sampleIndex: 0, run: 0, score: 0.75, error: null, executorTokens: 0, reward: 0.75 }]);
    store.putExecution({ iteration: 0, queryId: "q", sampleIndex: 0, run: 1, score: 1, error: null, executorTokens: 500, reward: 0.5 });
    expect(store.executions(0)[1]).toMatchObject({ executorTokens: 500, reward: 0.5 });
    store.close();
  });
});

describe("reopening a run", () => {
  it("accepts the run's own settings (and more iterations) but refuses other settings or other queries", async () => {
    const dir = join(work, "c");
    const config = resolveConfig({ task: "simulated", generator: "m.gguf", simulatedQueries: 3 });
    const task = () => createSimulatedTask({ queries: config.simulatedQueries, seed: config.seed });
    await openRun(dir, config, task()).close();
    await openRun(dir, { ...config, iterations: 5, engineThreads: 1 }, task()).close();
    expect(() => openRun(dir, { ...config, beta: 0, klMask: "all" }, task())).toThrow(
      /was started with other settings[\s\S]*beta: the run has 0\.1, this invocation asks for 0[\s\S]*klMask: the run has "advantage", this invocation asks for "all"/,
    );
    expect(() => openRun(dir, config, createSimulatedTask({ queries: 4, seed: 0 }))).toThrow(/started on 3 other queries than the 4/);
  });
});
