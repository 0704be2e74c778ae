// `sweep` over three values of beta on the simulated task: the runs share one iteration-0 collection
// (the task's executions are counted: the second and third runs make none in iteration 0, and hold
// exactly the first run's samples and executions), every run finishes, `report` draws the beta curve
// (opened in chromium: the drawn points are the runs' final scores) and `table` prints it; the same
// sweep through the CLI, SIGKILLed inside the first and the second run and rerun, ends in the state of
// the uninterrupted one.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportCommand } from "../../src/cli/commands/report.js";
import { tableCommand } from "../../src/cli/commands/table.js";
import { writeTinyModel } from "../../src/gguf/index.js";
import { createTask, planSweep, resolveConfig, runSweep, RunStore, type RunConfig, type WorkflowTask } from "../../src/pipeline/index.js";
import { openInChromium } from "../helpers/browser.js";
import { exitOf, runCommand, spawnCli } from "../helpers/cli.js";
import { runState } from "../helpers/runState.js";

const work = mkdtempSync(join(tmpdir(), "spogw-sweep-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const model = join(work, "model.gguf");
const BETAS = [0.025, 0.1, 0.2];
// Small: 4 queries, m = 4, groups of 3 sharpened to 2, two iterations.
const SETTINGS = {
  task: "simulated", generator: model, simulatedQueries: 4, samplesPerQuery: 4, groupSize: 3, keep: 1, topN: 12, maxTokens: 48,
  iterations: 2, epochs: 2, groupsPerStep: 2, scoreRuns: 2, engineThreads: 1, learningRate: 0.005,
};
const FLAGS = [
  "--task", "simulated", "--generator", model, "--simulated-queries", "4", "-m", "4", "-n", "3", "-t", "1", "--top-n", "12", "--max-tokens", "48",
  "--iterations", "2", "--epochs", "2", "--groups-per-step", "2", "--score-runs", "2", "--engine-threads", "1", "--learning-rate", "0.005",
];

/** Executions the task ran, per run directory (the simulated executor's calls). */
const executed = new Map<string, number>();
async function countingTask(config: RunConfig, dir: string): Promise<WorkflowTask> {
  const task = await createTask(config, dir);
  return {
    ...task,
    async execute(workflow, query, run) {
      executed.set(dir, (executed.get(dir) ?? 0) + 1);
      return task.execute(workflow, query, run);
    },
  };
}

const sweepDir = join(work, "sweep");
beforeAll(async () => {
  await writeTinyModel(model, { arch: "llama", seed: 7, kvHeads: 2 });
  await runSweep(sweepDir, planSweep(sweepDir, "beta", BETAS, resolveConfig(SETTINGS)), { createTask: countingTask });
}, 1_200_000);

describe("sweep --beta", () => {
  it("shares one iteration-0 collection: runs 2 and 3 execute nothing in iteration 0 and hold run 1's samples and executions", () => {
    const [first, second, third] = BETAS.map((b) => join(sweepDir, `beta-${b}`));
    // A collect executes queries x m x score runs = 4 x 4 x 2 = 32 times; each run collects iterations
    // 0, 1 and 2 (the final one), except that the second and third import iteration 0.
    expect([first, second, third].map((dir) => executed.get(dir!))).toEqual([3 * 32, 2 * 32, 2 * 32]);
    const states = [first!, second!, third!].map((dir) => runState(dir) as { samples: Array<{ iteration: number }>; executions: Array<{ iteration: number }> });
    const iteration0 = <T extends { iteration: number }>(rows: T[]) => rows.filter((r) => r.iteration === 0);
    for (const state of states.slice(1)) {
      expect(iteration0(state.samples)).toEqual(iteration0(states[0]!.samples));
      expect(iteration0(state.executions)).toEqual(iteration0(states[0]!.executions));
    }
    // The runs differ after that: beta matters.
    for (const dir of [first!, second!, third!]) {
      const store = RunStore.open(dir);
      try {
        expect(store.phaseSummary(2, "collect"), dir).toBeDefined(); // finished: the final collect is done
        expect(JSON.parse(store.getMeta("config")!).beta).toBe(BETAS[[first, second, third].indexOf(dir)]);
      } finally {
        store.close();
      }
    }
  });

  it("report draws the beta curve from the runs' final scores, and table prints it", async () => {
    const finals = BETAS.map((b) => {
      const store = RunStore.open(join(sweepDir, `beta-${b}`));
      try {
        return store.phaseSummary<{ meanScore: number }>(2, "collect")!.meanScore;
      } finally {
        store.close();
      }
    });
    const printed = (await runCommand(reportCommand, ["report", sweepDir])).stdout;
    expect(printed).toContain("sweep report of");
    const page = await openInChromium(join(sweepDir, "report.html"), join(work, "sweep-report.png"));
    expect([page.consoleErrors, page.pageErrors, page.outsideRequests]).toEqual([[], [], []]);
    const curve = page.charts.find((c) => c.id === "figure3-beta")!;
    expect(curve.datasets[0]!.data).toEqual(finals);
    expect(curve.datasets[0]!.elementsInArea).toBe(3);
    expect(curve.paintedPixels).toBeGreaterThan(1000);
    const table = (await runCommand(tableCommand, ["table", sweepDir])).stdout;
    expect(table).toContain("**Figure 3: score against the KL coefficient beta (sweep)**");
    BETAS.forEach((b, i) => expect(table).toContain(`| ${b} | beta-${b} | ${finals[i]!.toFixed(3)} |`));
  }, 300_000);
});

const startSweep = (dir: string) => spawnCli(["sweep", dir, "--beta", BETAS.join(","), ...FLAGS]);
/** Update steps stored in a run (0 when its store is not there yet). */
function updateSteps(dir: string): number {
  if (!existsSync(join(dir, "run.sqlite"))) return 0;
  try {
    const db = new Database(join(dir, "run.sqlite"), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT COUNT(*) AS n FROM update_steps").get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

describe("sweep through the CLI", () => {
  it("resumes after SIGKILLs inside the first and the second run and ends as the uninterrupted sweep", async () => {
    const dir = join(work, "cli-sweep");
    // Kill once the first run has trained a little, then once the second has.
    for (const run of [`beta-${BETAS[0]}`, `beta-${BETAS[1]}`]) {
      const child = startSweep(dir);
      const exit = exitOf(child);
      let exited = false;
      void exit.then(() => (exited = true));
      while (!exited && updateSteps(join(dir, run)) === 0) await new Promise((r) => setTimeout(r, 20));
      child.kill("SIGKILL");
      expect((await exit).signal, run).toBe("SIGKILL");
    }
    const last = await exitOf(startSweep(dir));
    expect(last.code, last.stderr).toBe(0);
    expect(last.stderr).toContain(`[beta-${BETAS[2]}] beta = ${BETAS[2]}: iteration 0 shared from beta-${BETAS[0]}`);
    for (const b of BETAS) {
      const [after, expected] = [runState(join(dir, `beta-${b}`)), runState(join(sweepDir, `beta-${b}`))];
      for (const key of Object.keys(expected)) expect(after[key], `beta ${b}: ${key}`).toEqual(expected[key]);
    }
  }, 1_500_000);
});
