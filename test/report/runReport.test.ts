// The "Done when" of the report on the demo run: `demo` (tiny model, simulated task family, 3
// iterations), two baselines evaluated into the run with `eval` against the local server on a tiny
// model, then `report` writes the HTML, which Debian's headless chromium opens: no console errors, no
// request leaves the file, every chart drawn with its data points, and the numbers drawn are the ones
// in the run's SQLite file (read here with plain SQL, independently of the report's reading code). A
// screenshot is kept under test-artifacts/. `table` prints the demo's numbers.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoCommand } from "../../src/cli/commands/demo.js";
import { evalCommand } from "../../src/cli/commands/eval.js";
import { reportCommand } from "../../src/cli/commands/report.js";
import { tableCommand } from "../../src/cli/commands/table.js";
import { formatSolveRate, generatorMethod, readEvaluations, type EvaluationRecord } from "../../src/evaluation/index.js";
import { histogram, loadRunReportData, medianInterval, renderRunReport, type RunReportData } from "../../src/report/index.js";
import { testDataDir } from "../helpers/dataDir.js";
import { runCommand } from "../helpers/cli.js";
import { startTinyModelServer } from "../helpers/tinyModelServer.js";
import { openInChromium, type PageReport } from "../helpers/browser.js";

const artifacts = resolve("test-artifacts/report");
let dir: string;
let page: PageReport;
let db: Database.Database;
let demo: { iterations: Array<{ iteration: number; meanScore: number; groups: number; loss: number }>; final: { meanScore: number } };

function evaluation(method: string, runSolveRates: number[]): EvaluationRecord {
  const mean = runSolveRates.reduce((a, b) => a + b, 0) / runSolveRates.length;
  return {
    method, benchmark: "humaneval", split: "test", problems: 4, protocol: "rule", protocolDescription: "rule-based scorers",
    runSolveRates, solveRate: mean, std: 0, executor: "tiny at http://127.0.0.1:1/v1", evaluatedAt: "2026-01-01T00:00:00.000Z",
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "spogw-report-"));
  const printed = (await runCommand(demoCommand, ["demo", "--run", dir, "--json"])).stdout;
  demo = JSON.parse(printed.trimEnd().split("\n").at(-1)!) as typeof demo;
  const executor = await startTinyModelServer(dir);
  try {
    for (const baseline of ["io", "cot"]) {
      await runCommand(evalCommand, ["eval", "--run", dir, "--workflow", baseline, "--benchmark", "humaneval", "--limit", "2", "--data-dir", testDataDir, "--executor", executor.server.url, "--executor-model", "tiny", "--max-tokens", "16"]);
    }
  } finally {
    await executor.close();
  }
  mkdirSync(artifacts, { recursive: true });
  const htmlFile = join(artifacts, "demo-report.html");
  await runCommand(reportCommand, ["report", dir, "--out", htmlFile]);
  page = await openInChromium(htmlFile, join(artifacts, "demo-report.png"));
  db = new Database(join(dir, "run.sqlite"), { readonly: true });
}, 400_000);

afterAll(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("run report of the demo run in headless chromium", () => {
  it("loads offline with no console or page errors and draws every chart", () => {
    expect(page.consoleErrors).toEqual([]);
    expect(page.pageErrors).toEqual([]);
    expect(page.outsideRequests).toEqual([]);
    expect(page.charts.map((c) => c.id)).toEqual([
      "scores-per-iteration", "group-variance", "median-interval",
      "update-loss", "update-kl", "update-clip-fraction", "update-grad-norm", "solve-rate-humaneval",
    ]);
    expect(page.chartsDrawn).toBe(String(page.charts.length));
    for (const chart of page.charts) {
      expect(chart.paintedPixels, chart.id).toBeGreaterThan(2000);
      expect(chart.datasets.length, chart.id).toBeGreaterThan(0);
      for (const d of chart.datasets) {
        expect(d.data.length, `${chart.id} / ${d.label}`).toBeGreaterThan(0);
        expect(d.elements, `${chart.id} / ${d.label}`).toBe(d.data.length);
        expect(d.elementsInArea, `${chart.id} / ${d.label}`).toBe(d.data.length);
      }
    }
    expect(page.text).toMatch(/SIMULATED task family/);
  });

  it("draws the mean workflow score of every iteration as stored", () => {
    const rows = db.prepare(`SELECT iteration, AVG(score) AS mean FROM (SELECT iteration, query_id, sample_index, AVG(score) AS score FROM executions GROUP BY 1, 2, 3) GROUP BY iteration ORDER BY iteration`).all() as Array<{ iteration: number; mean: number }>;
    expect(rows.map((r) => r.iteration)).toEqual([0, 1, 2, 3]);
    const drawn = page.charts.find((c) => c.id === "scores-per-iteration")!.datasets.find((d) => d.label === "mean score")!.data as number[];
    expect(drawn.length).toBe(4);
    drawn.forEach((value, i) => expect(value).toBeCloseTo(rows[i]!.mean, 12));
  });

  it("shows per iteration the executor tokens per execution and how many kept groups are distinct, from how many queries", () => {
    expect(page.text).toContain("executor tokens per execution");
    const tokens = db.prepare("SELECT iteration, AVG(executor_tokens) AS t FROM executions GROUP BY iteration ORDER BY iteration").all() as Array<{ iteration: number; t: number }>;
    const kept = db.prepare("SELECT iteration, COUNT(*) AS n, COUNT(DISTINCT query_id) AS q FROM groups GROUP BY iteration ORDER BY iteration").all() as Array<{ iteration: number; n: number; q: number }>;
    const distinct = (iteration: number) => new Set((db.prepare("SELECT query_id, members FROM groups WHERE iteration = ?").all(iteration) as Array<{ query_id: string; members: string }>)
      .map((g) => `${g.query_id}\t${(JSON.parse(g.members) as number[]).sort((a, b) => a - b).join(",")}`)).size;
    for (const k of kept) {
      const t = tokens.find((r) => r.iteration === k.iteration)!.t;
      // A row of the iteration table: iteration, workflows, invalid, mean, std, tokens, kept (distinct, queries).
      expect(page.text).toMatch(new RegExp(`\\b${k.iteration}\\t192\\t0\\t[0-9.]+\\t[0-9.]+\\t${t.toFixed(0)}\\t${k.n} \\(${distinct(k.iteration)}, ${k.q}\\)`));
    }
  });

  it("draws loss and gradient norm of every update step as stored, one line per iteration", () => {
    const steps = db.prepare("SELECT iteration, loss, grad_norm FROM update_steps ORDER BY iteration, step").all() as Array<{ iteration: number; loss: number; grad_norm: number }>;
    expect(steps.length).toBeGreaterThan(10);
    for (const [id, column] of [["update-loss", "loss"], ["update-grad-norm", "grad_norm"]] as const) {
      const chart = page.charts.find((c) => c.id === id)!;
      expect(chart.datasets.map((d) => d.label)).toEqual(["update of iteration 0", "update of iteration 1", "update of iteration 2"]);
      const points = chart.datasets.flatMap((d) => d.data as Array<{ x: number; y: number }>);
      expect(points.map((p) => p.x)).toEqual(steps.map((_, i) => i));
      expect(points.map((p) => p.y)).toEqual(steps.map((s) => s[column]));
    }
  });

  it("shows the kept groups of each iteration in the Figure 2 histograms, as shares summing to 1", () => {
    const counts = db.prepare("SELECT iteration, COUNT(*) AS n FROM groups GROUP BY iteration ORDER BY iteration").all() as Array<{ iteration: number; n: number }>;
    for (const id of ["group-variance", "median-interval"]) {
      const chart = page.charts.find((c) => c.id === id)!;
      const kept = chart.datasets.filter((d) => /screened \+ sharpened/.test(d.label));
      expect(kept.map((d) => d.label)).toEqual(counts.map((c) => `iteration ${c.iteration}: screened + sharpened (${c.n} groups)`));
      for (const d of chart.datasets) expect((d.data as number[]).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(chart.datasets.filter((d) => d.label.startsWith("D_")).map((d) => d.label.split(":")[0])).toEqual(["D_RS", "D_RSF", "D_S"]);
    }
  });

  it("builds the Figure 2 comparison sets so that screening beats random sampling on variance and filtering removes flat groups", () => {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const it of loadRunReportData(dir).iterations) {
      const [rs, rsf, s] = (["D_RS", "D_RSF", "D_S"] as const).map((name) => it.comparison.find((c) => c.name === name)!);
      expect(rs!.variances.length).toBeGreaterThan(0);
      expect(Math.min(...rsf!.variances)).toBeGreaterThan(0);
      expect(mean(s!.variances)).toBeGreaterThanOrEqual(mean(rs!.variances));
      expect(mean(s!.variances)).toBeGreaterThanOrEqual(mean(rsf!.variances));
    }
  });

  it("draws the solve rates the eval command stored, one line per baseline", () => {
    const stored = readEvaluations(dir);
    expect(stored.map((e) => e.method)).toEqual(["cot", "io"]);
    const chart = page.charts.find((c) => c.id === "solve-rate-humaneval")!;
    expect(chart.datasets.map((d) => d.label)).toEqual([
      `IO ${formatSolveRate(stored[1]!.solveRate, stored[1]!.std)} [rule-based]`,
      `CoT ${formatSolveRate(stored[0]!.solveRate, stored[0]!.std)} [rule-based]`,
    ]);
    expect(chart.datasets.map((d) => d.data)).toEqual([[stored[1]!.solveRate * 100], [stored[0]!.solveRate * 100]]);
  });

  it("eval of the demo's adapter on a benchmark stops with the reason: the demo model's 256-token context cannot hold the prompt", async () => {
    await expect(runCommand(evalCommand, ["eval", "--run", dir, "--iteration", "3", "--benchmark", "humaneval", "--limit", "1", "--data-dir", testDataDir, "--executor", "http://127.0.0.1:9/v1"]))
      .rejects.toThrow(/^the generator cannot write a workflow for HumanEval\/\d+: prompt \(\d+ tokens\) \+ maxTokens \(\d+\) exceed the context size 256$/);
  }, 60_000);

  it("table prints the demo's numbers (as demo --json gave them) and the stored solve rates", async () => {
    const lines = (await runCommand(tableCommand, ["table", dir])).stdout.split("\n");
    const name = dir.split("/").at(-1)!;
    const expected = [
      ...demo.iterations.map((it) => `| ${name} | simulated (not an LLM executor) | ${it.iteration} | ${it.meanScore.toFixed(3)} | ${it.groups} | ${it.loss.toFixed(4)} |`),
      `| ${name} | simulated (not an LLM executor) | final (adapter 3) | ${demo.final.meanScore.toFixed(3)} | - | - |`,
    ];
    expect(lines.filter((l) => l.startsWith(`| ${name} |`))).toEqual(expected);
    for (const e of readEvaluations(dir)) {
      expect(lines).toContain(`| ${e.method === "io" ? "IO" : "CoT"} | ${formatSolveRate(e.solveRate, e.std)} | ${(e.solveRate * 100).toFixed(1)} |`);
    }
  });
});

describe("report data and rendering", () => {
  it("names a missing, empty or corrupt run directory in its error", () => {
    const scratch = mkdtempSync(join(tmpdir(), "spogw-report-bad-"));
    try {
      const missing = join(scratch, "nope");
      expect(() => loadRunReportData(missing)).toThrow(`run directory ${missing} does not exist`);
      expect(() => loadRunReportData(scratch)).toThrow(`${scratch} is not a run directory (no run.sqlite)`);
      writeFileSync(join(scratch, "run.sqlite"), "this is not an SQLite file, just text long enough to have a header..........");
      expect(() => loadRunReportData(scratch)).toThrow(new RegExp(`${join(scratch, "run.sqlite").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} cannot be read as a run database`));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it("bins shares over fixed ranges and measures the gap between the two middle scores", () => {
    expect(histogram([0.01, 0.06, 0.11, 0.25, 0.3], 0.25, 5)).toEqual([0.2, 0.2, 0.2, 0, 0.4]);
    expect(histogram([], 1, 2)).toEqual([0, 0]);
    expect(medianInterval([0, 0, 0.25, 1])).toBe(0.25);
    expect(medianInterval([0, 1 / 3, 2 / 3, 1, 1, 1])).toBeCloseTo(1 / 3, 15);
    expect(medianInterval([0.2, 0.5, 0.9])).toBe(0);
  });

  it("draws the generator's solve rate per evaluated iteration against a baseline (chromium, hand-made data)", async () => {
    const data: RunReportData = {
      name: "hand-made", dir: "/tmp/hand-made", task: "humaneval", simulated: false, config: {},
      iterations: [0, 1].map((iteration) => ({
        iteration, workflowScores: [0.25, 0.5 + iteration / 4], invalidWorkflows: 0, invalidReasons: [], meanExecutorTokens: 100, meanReward: null,
        keptVariances: [], keptMedianIntervals: [], keptDistinct: 0, keptQueries: 0, comparison: [], samples: [], warning: null,
        samplers: ["local:base"], samplerGap: null,
      })),
      updateSteps: [],
      evaluations: [evaluation(generatorMethod(2), [0.75]), evaluation(generatorMethod(0), [0.25]), evaluation("io", [0.5])],
    };
    mkdirSync(artifacts, { recursive: true });
    const htmlFile = join(artifacts, "hand-made-report.html");
    writeFileSync(htmlFile, renderRunReport(data));
    const handMade = await openInChromium(htmlFile, join(artifacts, "hand-made-report.png"));
    expect([handMade.consoleErrors, handMade.pageErrors, handMade.outsideRequests]).toEqual([[], [], []]);
    // Charts without data (no groups, no update steps) are left out, with a sentence saying so.
    expect(handMade.charts.map((c) => c.id)).toEqual(["scores-per-iteration", "solve-rate-humaneval"]);
    expect(handMade.text).toContain("No update steps stored yet.");
    const solve = handMade.charts[1]!;
    expect(solve.datasets.map((d) => [d.label, d.data, d.elementsInArea])).toEqual([
      ["generator, per iteration [rule-based]", [25, 75], 2],
      ["IO 50.0 ± 0.0 [rule-based]", [50, 50], 2],
    ]);
    expect(handMade.charts[0]!.datasets.find((d) => d.label === "mean score")!.data).toEqual([0.375, 0.5]);
  }, 60_000);

  it("keeps hostile workflow text and names inert (escaped, never closing a script element)", () => {
    const hostile = `</script><script>alert("x")</script><img src=x onerror=alert(1)>`;
    const data: RunReportData = {
      name: hostile, dir: "/tmp/x", task: "humaneval", simulated: false, config: {},
      iterations: [{
        iteration: 0, workflowScores: [0.5], invalidWorkflows: 1, invalidReasons: [{ reason: hostile, count: 1 }], meanExecutorTokens: null, meanReward: null,
        keptVariances: [], keptMedianIntervals: [], keptDistinct: 0, keptQueries: 0, comparison: [], warning: hostile,
        samples: [{ queryId: hostile, sampleIndex: 0, score: 0.5, workflow: hostile, invalidReason: null }],
        samplers: [hostile], samplerGap: null, // a generator server names its base model
      }],
      updateSteps: [],
      evaluations: [{ ...evaluation("cot", [0.5]), executor: hostile }],
    };
    const html = renderRunReport(data, { chartLibrary: "/* chart library left out */" });
    expect(html.match(/<script/g)?.length).toBe(3);
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)");
  });
});
