// SIGKILL `train` (and `demo`) at random moments, rerun it, repeat until it finishes: the end state
// (samples, executions, groups, log-probs, update steps, adapters and every file) equals an
// uninterrupted run's. Both sample grammar-constrained workflows on 8 parallel sequences, as the demo
// does. The CLI runs in a child process through vite-node (TypeScript sources, no build step needed).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { SeededRandom } from "../../src/gguf/seededRandom.js";
import { runState } from "./runState.js";

const work = mkdtempSync(join(tmpdir(), "spogw-kill-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, "model.gguf");
const configPath = join(work, "run.yaml");

// Small enough that one run takes seconds; two iterations so that a later iteration samples from a
// trained adapter. Executions take 3 ms each (simulated executor latency), so a kill can land inside
// that phase too.
const CONFIG = `task: simulated
generator: ${model}
simulatedQueries: 4
samplesPerQuery: 4
groupSize: 3
keep: 1
topN: 12
maxTokens: 48
iterations: 2
epochs: 2
groupsPerStep: 2
scoreRuns: 2
engineThreads: 1
learningRate: 0.005
simulatedLatencyMs: 3
executionConcurrency: 2
`;

const viteNode = join(process.cwd(), "node_modules", ".bin", "vite-node");
function startCli(args: string[]): ChildProcess {
  return spawn(viteNode, ["src/cli/cli.ts", "--", ...args], { stdio: ["ignore", "pipe", "pipe"] });
}
const startTrain = (dir: string) => startCli(["train", dir, "--config", configPath, "--json"]);
// The demo as a user runs it (24 queries, m = 8, 8 sequences), one iteration to keep the test short:
// its final collect still samples from the adapter the update wrote.
const startDemo = (dir: string) => startCli(["demo", "--run", dir, "--seed", "5", "--iterations", "1", "--json"]);
function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })));
}

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

/**
 * Starts the command in `dir` until it finishes, SIGKILLing each attempt at a random moment once it has
 * stored something new (so the kill cuts into real work rather than start-up). Returns where each kill landed.
 */
async function killUntilDone(start: (dir: string) => ChildProcess, dir: string, random: SeededRandom, samples: number, iterations: number): Promise<string[]> {
  const kills: string[] = [];
  for (let attempt = 0; attempt < 60; attempt++) {
    const child = start(dir);
    const exit = exitOf(child);
    const before = progressMark(dir);
    let exited = false;
    void exit.then(() => (exited = true));
    while (!exited && progressMark(dir) === before) await new Promise((r) => setTimeout(r, 10));
    if (!exited) {
      await new Promise((r) => setTimeout(r, Math.floor(random.next() * 30)));
      child.kill("SIGKILL");
    }
    const result = await exit;
    if (result.signal === "SIGKILL") {
      kills.push(phaseAt(dir, samples, iterations));
      continue;
    }
    expect(result.code, result.stderr).toBe(0);
    return kills;
  }
  throw new Error(`${dir} did not finish in 60 attempts (kills at: ${kills.join("; ")})`);
}

/**
 * Runs `start` uninterrupted into NAME-reference and with >= 10 kills into NAME-killed; the kills land
 * in each of `phases`, and the two runs end in the same state.
 */
async function expectKillsChangeNothing(
  name: string, start: (dir: string) => ChildProcess, random: SeededRandom, run: { samples: number; iterations: number }, phases: string[],
): Promise<void> {
  const reference = join(work, `${name}-reference`);
  const clean = await exitOf(start(reference));
  expect(clean.code, clean.stderr).toBe(0);
  const killed = join(work, `${name}-killed`);
  const kills = await killUntilDone(start, killed, random, run.samples, run.iterations);
  console.info(`${name}: ${kills.length} kills, in: ${kills.join("; ")}`);
  expect(kills.length).toBeGreaterThanOrEqual(10);
  const landed = new Set(kills.map((k) => k.split(" ")[0]));
  for (const phase of phases) expect([...landed], kills.join("; ")).toContain(phase);
  const [after, expected] = [runState(killed), runState(reference)];
  for (const key of Object.keys(expected)) expect(after[key], `${key} after kills at: ${kills.join("; ")}`).toEqual(expected[key]);
}

describe("train under SIGKILL", () => {
  it("ends in the same state as an uninterrupted run after >= 10 kills at random moments (seed 11)", async () => {
    await expectKillsChangeNothing("train", startTrain, new SeededRandom(11, "kill moments"), { samples: 16, iterations: 2 }, ["generate", "execute", "update"]);
  }, 1_500_000);
});

describe("demo under SIGKILL", () => {
  it("ends with the numbers and adapter bytes of an uninterrupted demo with the same seed", async () => {
    await expectKillsChangeNothing("demo", startDemo, new SeededRandom(12, "demo kill moments"), { samples: 24 * 8, iterations: 1 }, ["generate", "update"]);
  }, 1_500_000);
});
