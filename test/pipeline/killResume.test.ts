// SIGKILL `train` (and `demo`) at random moments in each phase, rerun it, let the last rerun finish: the end state
// (samples, executions, groups, log-probs, update steps, adapters and every file) equals an
// uninterrupted run's. Both sample grammar-constrained workflows on 8 parallel sequences, as the demo
// does. The CLI runs in a child process (the built CLI, dist/cli/cli.js: run `npm run build:ts` first; npm test does).
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { SeededRandom } from "../../src/util/seededRandom.js";
import { exitOf, spawnCli } from "../helpers/cli.js";
import { runState } from "../helpers/runState.js";
import { smallSimulatedConfig } from "../helpers/simulatedRun.js";

const work = mkdtempSync(join(tmpdir(), "spogw-kill-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, "model.gguf");
const configPath = join(work, "run.yaml");

// Executions take 3 ms each (simulated executor latency), so a kill can land inside that phase too.
const CONFIG = smallSimulatedConfig(model, "simulatedLatencyMs: 3\n");

const startTrain = (dir: string) => spawnCli(["train", dir, "--config", configPath, "--json"]);
// The demo as a user runs it (24 queries, m = 8, 8 sequences), one iteration to keep the test short:
// its final collect still samples from the adapter the update wrote.
const startDemo = (dir: string) => spawnCli(["demo", "--run", dir, "--seed", "5", "--iterations", "1", "--json"]);

/** Rows in every table: it grows whenever the run stores something. */
function progressMark(dir: string): number {
  const path = join(dir, "run.sqlite");
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const tables = ["samples", "executions", "groups", "logprobs", "update_steps", "adapters", "phases"];
      return tables.reduce((n, t) => n + (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n, 0);
    } finally {
      db.close();
    }
  } catch {
    return 0; // the schema is being created
  }
}

/** Which phase the run was in, from what it had stored (`samples`: workflows per iteration, `iterations`: updates). */
function phaseAt(dir: string, samples: number, iterations: number): string {
  const db = new Database(join(dir, "run.sqlite"), { readonly: true });
  try {
    const done = new Set((db.prepare("SELECT iteration || ':' || phase AS k FROM phases").all() as Array<{ k: string }>).map((r) => r.k));
    for (let it = 0; it <= iterations; it++) {
      const count = (t: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t} WHERE iteration = ?`).get(it) as { n: number }).n;
      if (!done.has(`${it}:collect`)) return count("samples") < samples ? `generate ${it}` : `execute ${it}`;
      if (it === iterations) return "done";
      if (!done.has(`${it}:dataset`)) return `dataset ${it}`;
      if (!done.has(`${it}:update`)) return count("logprobs") === 0 || count("update_steps") === 0 ? `update ${it} (log-probs)` : `update ${it} (steps)`;
    }
    return "done";
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  await writeTinyModel(model, { arch: "llama", seed: 7, kvHeads: 2 });
  writeFileSync(configPath, CONFIG);
});

/** The phases of a run in the order it passes them (what phaseAt can return). */
function phaseOrder(iterations: number): string[] {
  const order: string[] = [];
  for (let it = 0; it <= iterations; it++) {
    order.push(`generate ${it}`, `execute ${it}`);
    if (it < iterations) order.push(`dataset ${it}`, `update ${it} (log-probs)`, `update ${it} (steps)`);
  }
  return [...order, "done"];
}

/**
 * Starts the command in `dir` once per target phase and SIGKILLs it a random 0-30 ms after it has
 * stored something new (so the kill cuts into real work rather than start-up) in that phase or a later
 * one; then lets a last attempt finish. Returns where each kill landed.
 */
async function killAtPhases(start: (dir: string) => ChildProcess, dir: string, random: SeededRandom, run: { samples: number; iterations: number }, targets: string[]): Promise<string[]> {
  const order = phaseOrder(run.iterations);
  const kills: string[] = [];
  for (const target of targets) {
    const child = start(dir);
    const exit = exitOf(child);
    const before = progressMark(dir);
    let exited = false;
    void exit.then(() => (exited = true));
    const reached = () => progressMark(dir) !== before && order.indexOf(phaseAt(dir, run.samples, run.iterations)) >= order.indexOf(target);
    while (!exited && !reached()) await new Promise((r) => setTimeout(r, 10));
    if (!exited) {
      await new Promise((r) => setTimeout(r, Math.floor(random.next() * 30)));
      child.kill("SIGKILL");
    }
    const result = await exit;
    if (result.signal !== "SIGKILL") {
      expect(result.code, result.stderr).toBe(0);
      return kills; // it finished before the kill
    }
    kills.push(phaseAt(dir, run.samples, run.iterations));
  }
  const last = await exitOf(start(dir));
  expect(last.code, last.stderr).toBe(0);
  return kills;
}

/**
 * Runs `start` uninterrupted into NAME-reference and killed once in each target phase into NAME-killed;
 * the kills land in each of `phases`, and the two runs end in the same state.
 */
async function expectKillsChangeNothing(
  name: string, start: (dir: string) => ChildProcess, random: SeededRandom, run: { samples: number; iterations: number }, targets: string[], phases: string[],
): Promise<void> {
  const reference = join(work, `${name}-reference`);
  const clean = await exitOf(start(reference));
  expect(clean.code, clean.stderr).toBe(0);
  const killed = join(work, `${name}-killed`);
  const kills = await killAtPhases(start, killed, random, run, targets);
  console.info(`${name}: ${kills.length} kills, in: ${kills.join("; ")}`);
  expect(kills.length).toBeGreaterThanOrEqual(targets.length - 1); // the last may find the run already finished
  const landed = new Set(kills.map((k) => k.split(" ")[0]));
  for (const phase of phases) expect([...landed], kills.join("; ")).toContain(phase);
  const [after, expected] = [runState(killed), runState(reference)];
  for (const key of Object.keys(expected)) expect(after[key], `${key} after kills at: ${kills.join("; ")}`).toEqual(expected[key]);
}

describe("train under SIGKILL", () => {
  it("ends in the same state as an uninterrupted run after a kill in every phase of both iterations (seed 11)", async () => {
    const targets = ["generate 0", "execute 0", "update 0 (log-probs)", "update 0 (steps)", "generate 1", "execute 1", "update 1 (log-probs)", "update 1 (steps)", "generate 2", "execute 2"];
    await expectKillsChangeNothing("train", startTrain, new SeededRandom(11, "kill moments"), { samples: 16, iterations: 2 }, targets, ["generate", "execute", "update"]);
  }, 1_500_000);
});

describe("demo under SIGKILL", () => {
  it("ends with the numbers and adapter bytes of an uninterrupted demo with the same seed", async () => {
    const targets = ["generate 0", "generate 0", "execute 0", "update 0 (log-probs)", "update 0 (steps)", "update 0 (steps)", "generate 1", "generate 1", "execute 1", "execute 1"];
    await expectKillsChangeNothing("demo", startDemo, new SeededRandom(12, "demo kill moments"), { samples: 24 * 8, iterations: 1 }, targets, ["generate", "update"]);
  }, 1_500_000);
});
