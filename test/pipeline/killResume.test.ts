// SIGKILL `train` at random moments, rerun it, repeat until it finishes: the end state (samples,
// executions, groups, log-probs, update steps, adapters and every file) equals an uninterrupted run's.
// The CLI runs in a child process through vite-node (TypeScript sources, no build step needed).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTinyModel } from "../../src/gguf/index.js";
import { SeededRandom } from "../../src/util/seededRandom.js";
import { runState } from "./runState.js";

const work = mkdtempSync(join(tmpdir(), "spogw-kill-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, "model.gguf");
const configPath = join(work, "run.yaml");

// Small enough that one run takes seconds; two iterations so that a later iteration samples from a
// trained adapter. One generator sequence: batch make-up changes llama.cpp's numbers, and although the
// generator now samples parallel sequences in lockstep (batches depend on tokens, not timing), one
// sequence keeps this test independent of that.
// Executions take 3 ms each (simulated executor latency), so a kill can land inside that phase too.
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
generatorSequences: 1
engineThreads: 1
learningRate: 0.005
simulatedLatencyMs: 3
executionConcurrency: 2
`;

const viteNode = join(process.cwd(), "node_modules", ".bin", "vite-node");
function startTrain(dir: string): ChildProcess {
  return spawn(viteNode, ["src/cli/cli.ts", "--", "train", dir, "--config", configPath, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
}
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

/** Which phase the run was in, from what it had stored. */
function phaseAt(dir: string): string {
  const db = new Database(join(dir, "run.sqlite"), { readonly: true });
  try {
    const done = new Set((db.prepare("SELECT iteration || ':' || phase AS k FROM phases").all() as Array<{ k: string }>).map((r) => r.k));
    for (let it = 0; it <= 2; it++) {
      const count = (t: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${t} WHERE iteration = ?`).get(it) as { n: number }).n;
      if (!done.has(`${it}:collect`)) return count("samples") < 16 ? `generate ${it}` : `execute ${it}`;
      if (it === 2) return "done";
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

describe("train under SIGKILL", () => {
  it("ends in the same state as an uninterrupted run after >= 10 kills at random moments (seed 11)", async () => {
    const reference = join(work, "reference");
    const clean = await exitOf(startTrain(reference));
    expect(clean.code, clean.stderr).toBe(0);

    const killed = join(work, "killed");
    const random = new SeededRandom(11, "kill moments");
    const kills: string[] = [];
    for (let attempt = 0; attempt < 60; attempt++) {
      const child = startTrain(killed);
      const exit = exitOf(child);
      // Wait until this attempt has stored something (so the kill cuts into real work rather than
      // start-up), then a random 0-30 ms more, then SIGKILL.
      const before = progressMark(killed);
      let exited = false;
      void exit.then(() => (exited = true));
      while (!exited && progressMark(killed) === before) await new Promise((r) => setTimeout(r, 10));
      if (!exited) {
        await new Promise((r) => setTimeout(r, Math.floor(random.next() * 30)));
        child.kill("SIGKILL");
      }
      const result = await exit;
      if (result.signal === "SIGKILL") {
        kills.push(phaseAt(killed));
        continue;
      }
      expect(result.code, result.stderr).toBe(0);
      break;
    }
    console.info(`${kills.length} kills, in: ${kills.join("; ")}`);
    expect(kills.length).toBeGreaterThanOrEqual(10);
    const phases = new Set(kills.map((k) => k.split(" ")[0]));
    for (const phase of ["generate", "execute", "update"]) expect([...phases], kills.join("; ")).toContain(phase);
    const [after, expected] = [runState(killed), runState(reference)];
    for (const key of Object.keys(expected)) expect(after[key], `${key} after kills at: ${kills.join("; ")}`).toEqual(expected[key]);
  }, 600_000);
});
