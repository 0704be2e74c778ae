// `spogw-native table` and `report` on run directories whose configurations differ the way the
// paper's ablations do: Table 1 (methods x benchmarks, average column), Table 3 (KL settings) and
// Table 4 (data processing), in Markdown and CSV; every cell is the stored number in percent.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reportCommand } from "../../src/cli/commands/report.js";
import { tableCommand } from "../../src/cli/commands/table.js";
import { generatorMethod, putEvaluation, readEvaluations, type EvaluationRecord } from "../../src/evaluation/index.js";
import { DEFAULT_CONFIG, resolveConfig, RunStore } from "../../src/pipeline/index.js";
import { stdoutOf as run } from "../helpers/cli.js";

const work = mkdtempSync(join(tmpdir(), "spogw-tables-"));

/** A run directory with the given settings (a real run store holding only its configuration). */
function makeRun(name: string, settings: Record<string, unknown>): string {
  const dir = join(work, name);
  const store = RunStore.open(dir);
  store.setMeta("config", JSON.stringify({ ...DEFAULT_CONFIG, task: "humaneval", generator: "/models/g.gguf", ...settings }));
  store.close();
  return dir;
}

/** A run directory with the settings `train --preset NAME` stores (over any `flags`). */
function makePresetRun(name: string, preset: string, flags: Record<string, unknown> = {}): string {
  const dir = join(work, name);
  const store = RunStore.open(dir);
  store.setMeta("config", JSON.stringify(resolveConfig({ task: "humaneval", generator: "/models/g.gguf", dataDir: "/data", executorUrl: "http://127.0.0.1:1/v1", preset }, flags)));
  store.close();
  return dir;
}

function store(dir: string, method: string, benchmark: string, runSolveRates: number[], protocol: "rule" | "judge" = "rule"): void {
  const mean = runSolveRates.reduce((a, b) => a + b, 0) / runSolveRates.length;
  const std = Math.sqrt(runSolveRates.reduce((s, x) => s + (x - mean) ** 2, 0) / (runSolveRates.length - 1));
  const record: EvaluationRecord = {
    method, benchmark, split: "test", problems: 4, protocol, protocolDescription: protocol, runSolveRates, solveRate: mean, std,
    executor: "tiny", evaluatedAt: "2026-01-01T00:00:00.000Z",
  };
  putEvaluation(dir, record);
}

let main: string;
beforeAll(() => {
  main = makeRun("spogw", {});
  store(main, "cot", "humaneval", [0.5, 0.25, 0.5]);
  store(main, "cot", "mbpp", [0.75, 0.75, 0.75]);
  store(main, "io", "humaneval", [0.25, 0.25, 0]);
  store(main, generatorMethod(3), "humaneval", [1, 0.75, 0.75]);
  store(main, generatorMethod(3), "mbpp", [0.5, 0.5, 0.75]);
  // Table 3 rows: no KL term, base model reference without the mask; Table 4 rows: random sampling, screening only.
  store(makeRun("no-kl", { beta: 0 }), generatorMethod(3), "humaneval", [0.5, 0.5, 0.5]);
  store(makeRun("base-ref", { reference: "base", klMask: "all" }), generatorMethod(3), "humaneval", [0.25, 0.5, 0.5]);
  store(makeRun("random", { selection: "random", dropZeroVariance: false, groupSize: 8, keep: 0 }), generatorMethod(3), "humaneval", [0, 0.25, 0.25]);
  store(makeRun("screen-only", { keep: 0 }), generatorMethod(3), "humaneval", [0.75, 0.5, 0.5]);
  // Random groups that are then sharpened are none of the paper's datasets.
  store(makeRun("random-sharpened", { selection: "random" }), generatorMethod(3), "humaneval", [0.5, 0.25, 0.25]);
  // Runs made from presets (settings as `train --preset` resolves them), one with a setting changed.
  store(makePresetRun("preset-kl-previous", "kl-previous-nomask"), generatorMethod(2), "humaneval", [0.5, 0.75, 0.75]);
  store(makePresetRun("preset-d-rsf", "d-rsf"), generatorMethod(3), "humaneval", [0.25, 0.25, 0.5]);
  store(makePresetRun("preset-d-s-6", "d-s", { groupSize: 6 }), generatorMethod(3), "humaneval", [0.5, 0.5, 0.25]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("spogw-native table", () => {
  it("prints Table 1 of one run with mean ± std per cell and the average over benchmarks", async () => {
    const text = await run(tableCommand, ["table", main]);
    const lines = text.split("\n");
    expect(lines).toContain("| Method | HumanEval (test, 4 problems, rule-based) | MBPP (test, 4 problems, rule-based) | AVG |");
    // Hand-computed: CoT humaneval mean 5/12 = 41.7, sample std 0.1443 = 14.4; mbpp 75.0 ± 0.0; average (41.67 + 75) / 2 = 58.3.
    expect(lines).toContain("| IO | 16.7 ± 14.4 | - | - |");
    expect(lines).toContain("| CoT | 41.7 ± 14.4 | 75.0 ± 0.0 | 58.3 |");
    expect(lines).toContain("| SPOGW (adapter 3) | 83.3 ± 14.4 | 58.3 ± 14.4 | 70.8 |");
    expect(lines.findIndex((l) => l.startsWith("| IO"))).toBeLessThan(lines.findIndex((l) => l.startsWith("| CoT")));
    expect(text).not.toMatch(/Table 3|Table 4/);
  });

  it("prints exactly the stored numbers (CSV, one column per number)", async () => {
    const csv = (await run(tableCommand, ["table", main, "--format", "csv"])).trim().split("\n");
    const h = "HumanEval (test, 4 problems, rule-based)";
    const m = "MBPP (test, 4 problems, rule-based)";
    expect(csv[0]).toBe(`table,method,"${h}","${h} std","${h} runs","${m}","${m} std","${m} runs",AVG`);
    const stored = readEvaluations(main).find((e) => e.method === "cot" && e.benchmark === "humaneval")!;
    const cot = csv.find((l) => l.startsWith("Table 1,CoT,"))!.split(",");
    expect(cot.slice(2, 5)).toEqual([(stored.solveRate * 100).toFixed(1), (stored.std * 100).toFixed(1), "3"]);
  });

  it("adds Tables 3 and 4 when runs with those settings are given, one row per run, with the paper's names for preset runs", async () => {
    const names = ["spogw", "no-kl", "base-ref", "random", "screen-only", "random-sharpened", "preset-kl-previous", "preset-d-rsf", "preset-d-s-6"];
    const text = await run(tableCommand, ["table", ...names.map((n) => join(work, n))]);
    const lines = text.split("\n");
    const table3 = lines.slice(lines.indexOf("**Table 3: KL restriction configurations**"), lines.indexOf("**Table 4: data processing methods**"));
    const table4 = lines.slice(lines.indexOf("**Table 4: data processing methods**"));
    expect(table3).toContain("| Method | Objective function | Reference model | KL mask | Paper (HumanEval) | HumanEval (test, 4 problems, rule-based) | MBPP (test, 4 problems, rule-based) | AVG |");
    // Each ablation table holds the runs that differ from SPOGW along its own axis only.
    expect(table3.filter((l) => /^\| [a-zD]/.test(l) && !l.startsWith("| Method"))).toEqual([
      "| spogw (SPOGW (adapter 3)) | w/ KL term | Previous iteration's checkpoint | yes | - | 83.3 ± 14.4 | 58.3 ± 14.4 | 70.8 |",
      "| no-kl (SPOGW (adapter 3)) | w/o KL term | None | - | - | 50.0 ± 0.0 | - | - |",
      "| base-ref (SPOGW (adapter 3)) | w/ KL term | Initial base model | no | - | 41.7 ± 14.4 | - | - |",
      "| w/ KL term, reference: previous iteration's checkpoint, no KL mask [preset-kl-previous, SPOGW (adapter 2)] | w/ KL term | Previous iteration's checkpoint | no | 95.4 | 66.7 ± 14.4 | - | - |",
    ]);
    expect(table4).toContain("| Method | Dataset | Data processing | Filtering first | Group size | Paper (HumanEval) | HumanEval (test, 4 problems, rule-based) | MBPP (test, 4 problems, rule-based) | AVG |");
    expect(table4.filter((l) => /^\| [a-zDp(]/.test(l) && !l.startsWith("| Method"))).toEqual([
      "| spogw (SPOGW (adapter 3)) | D_SS | Screening and sharpening | yes | 14 -> 8 | - | 83.3 ± 14.4 | 58.3 ± 14.4 | 70.8 |",
      "| random (SPOGW (adapter 3)) | D_RS | Random sampling | no | 8 | - | 16.7 ± 14.4 | - | - |",
      "| screen-only (SPOGW (adapter 3)) | D_S | Only screening | yes | 14 | - | 58.3 ± 14.4 | - | - |",
      "| random-sharpened (SPOGW (adapter 3)) | (not in the paper) | Random sampling, then sharpening | yes | 14 -> 8 | - | 33.3 ± 14.4 | - | - |",
      "| D_RSF: random sampling, filtering first (groups of 8) [preset-d-rsf, SPOGW (adapter 3)] | D_RSF | Random sampling | yes | 8 | 94.9 | 33.3 ± 14.4 | - | - |",
      "| preset d-s with groupSize changed [preset-d-s-6, SPOGW (adapter 3)] | D_S | Only screening | yes | 6 | - | 41.7 ± 14.4 | - | - |",
    ]);
    // With several runs, Table 1 names the run of each generator row.
    expect(lines).toContain("| SPOGW (adapter 3) [no-kl] | 50.0 ± 0.0 | - | - |");
  });

  it("keeps numbers scored under different protocols in different columns", async () => {
    const dir = makeRun("judged", {});
    store(dir, "cot", "humaneval", [0.5, 0.5, 0.5], "judge");
    store(dir, "cot", "humaneval", [0.25, 0.25, 0.25], "rule");
    const text = await run(tableCommand, ["table", dir]);
    expect(text).toContain("| Method | HumanEval (test, 4 problems, LLM judge) | HumanEval (test, 4 problems, rule-based) | AVG |");
    expect(text).toContain("| CoT | 50.0 ± 0.0 | 25.0 ± 0.0 | 37.5 |");
  });

  it("names a missing or corrupt run directory", async () => {
    const missing = join(work, "missing");
    await expect(run(tableCommand, ["table", main, missing])).rejects.toThrow(`run directory ${missing} does not exist`);
    await expect(run(reportCommand, ["report", missing])).rejects.toThrow(`run directory ${missing} does not exist`);
    expect(existsSync(missing)).toBe(false);
  });
});

describe("spogw-native report", () => {
  it("writes RUN/report.html with the stored evaluations", async () => {
    const printed = await run(reportCommand, ["report", main]);
    expect(printed).toContain(join(main, "report.html"));
    const html = readFileSync(join(main, "report.html"), "utf8");
    expect(html).toContain("<td>41.7 ± 14.4</td>");
    expect(html).toContain('id="solve-rate-humaneval"');
    expect(html).toContain('id="solve-rate-mbpp"');
  });
});
