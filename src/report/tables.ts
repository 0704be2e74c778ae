// The paper's tables from stored evaluations: Table 1 (methods x benchmarks with an average column),
// Table 3 (KL configurations) and Table 4 (data processing), as Markdown or CSV. A cell is the stored
// solve rate written by the same formatter `eval` prints with, so the two always agree digit for digit.
import { formatSolveRate, methodLabel, methodOrder, percent, protocolTag } from "../evaluation/format.js";
import { generatorIteration, type EvaluationRecord } from "../evaluation/evaluationStore.js";
import { PRESETS, presetOverrides } from "../pipeline/presets.js";
import type { RunEvaluations } from "./runData.js";

const BENCHMARK_LABELS: Readonly<Record<string, string>> = {
  math: "MATH", humaneval: "HumanEval", mbpp: "MBPP", hotpotqa: "HotpotQA", drop: "DROP", gsm8k: "GSM8K",
};
// Table 1's column order: math, coding, question answering (GSM8K last; the paper does not report it).
const BENCHMARK_ORDER = ["math", "humaneval", "mbpp", "hotpotqa", "drop", "gsm8k"];

/** A column: evaluations on the same problems under the same protocol, so its numbers compare. */
export interface TableColumn {
  key: string;
  benchmark: string;
  split: string;
  problems: number;
  protocol: string;
  label: string;
}

export interface TableRow {
  label: string;
  /** Leading cells before the benchmark columns (the ablation tables' settings). */
  settings: string[];
  cells: Array<EvaluationRecord | null>;
  /** Mean solve rate over the columns, when the row has every column. */
  average: number | null;
}

export interface PaperTable {
  title: string;
  settingHeaders: string[];
  columns: TableColumn[];
  rows: TableRow[];
}

function columnKey(e: EvaluationRecord): string {
  return `${e.benchmark}\t${e.split}\t${e.problems}\t${e.protocol}`;
}

function columnsOf(evaluations: readonly EvaluationRecord[]): TableColumn[] {
  const byKey = new Map<string, TableColumn>();
  for (const e of evaluations) {
    const label = `${BENCHMARK_LABELS[e.benchmark] ?? e.benchmark} (${e.split}, ${e.problems} problems, ${protocolTag(e.protocol)})`;
    byKey.set(columnKey(e), { key: columnKey(e), benchmark: e.benchmark, split: e.split, problems: e.problems, protocol: e.protocol, label });
  }
  const order = (b: string) => (BENCHMARK_ORDER.includes(b) ? BENCHMARK_ORDER.indexOf(b) : BENCHMARK_ORDER.length);
  return [...byKey.values()].sort((a, b) => order(a.benchmark) - order(b.benchmark) || a.benchmark.localeCompare(b.benchmark) ||
    a.split.localeCompare(b.split) || b.problems - a.problems || a.protocol.localeCompare(b.protocol));
}

function row(label: string, settings: string[], evaluations: readonly EvaluationRecord[], columns: readonly TableColumn[]): TableRow {
  const cells = columns.map((c) => evaluations.find((e) => columnKey(e) === c.key) ?? null);
  const complete = cells.every((c) => c !== null);
  const average = complete && cells.length > 0 ? cells.reduce((s, c) => s + c!.solveRate, 0) / cells.length : null;
  return { label, settings, cells, average };
}

/** Table 1: every method evaluated in the given runs; generator rows name their run when there are several. */
export function mainTable(runs: readonly RunEvaluations[]): PaperTable {
  const columns = columnsOf(runs.flatMap((r) => r.evaluations));
  const baselineRuns = new Map<string, number>();
  for (const r of runs) for (const m of new Set(r.evaluations.map((e) => e.method))) if (generatorIteration(m) === null) baselineRuns.set(m, (baselineRuns.get(m) ?? 0) + 1);
  const entries = runs.flatMap((r) => [...new Set(r.evaluations.map((e) => e.method))].map((method) => ({ run: r, method })));
  entries.sort((a, b) => methodOrder(a.method) - methodOrder(b.method) || a.run.name.localeCompare(b.run.name));
  const rows = entries.map(({ run, method }) => {
    const named = generatorIteration(method) !== null ? runs.length > 1 : (baselineRuns.get(method) ?? 0) > 1;
    const label = named ? `${methodLabel(method)} [${run.name}]` : methodLabel(method);
    return row(label, [], run.evaluations.filter((e) => e.method === method), columns);
  });
  return { title: "Table 1: solve rate (%) per method and benchmark, mean ± std over runs", settingHeaders: [], columns, rows };
}

/** The evaluations of a run's most trained generator that was evaluated (highest iteration), per column. */
function latestGenerator(run: RunEvaluations): EvaluationRecord[] {
  const iterations = run.evaluations.map((e) => generatorIteration(e.method)).filter((i): i is number => i !== null);
  if (iterations.length === 0) return [];
  const latest = Math.max(...iterations);
  return run.evaluations.filter((e) => generatorIteration(e.method) === latest);
}

/** Table 3 settings of a run: the objective, the reference model and the KL mask. */
export function klSettings(run: RunEvaluations): string[] {
  const c = run.config;
  if (c.beta === 0) return ["w/o KL term", "None", "-"];
  const reference = c.reference === "base" ? "Initial base model" : "Previous iteration's checkpoint";
  return ["w/ KL term", reference, c.klMask === "all" ? "no" : "yes"];
}

/**
 * Table 4 settings of a run: the dataset, how groups are chosen, whether zero-variance groups are
 * filtered first, and the group size (n, or n -> 2t with sharpening). The paper's D_RS, D_RSF and D_S
 * train on their groups as they are (Figure 2: "the training group size is fixed at 8"); random groups
 * that are then sharpened are none of its datasets.
 */
export function dataSettings(run: RunEvaluations): string[] {
  const c = run.config;
  const filtering = c.dropZeroVariance ? "yes" : "no";
  const size = c.keep > 0 ? `${c.groupSize} -> ${2 * c.keep}` : String(c.groupSize);
  if (c.selection === "random") {
    return c.keep > 0 ? ["(not in the paper)", "Random sampling, then sharpening", filtering, size] : [c.dropZeroVariance ? "D_RSF" : "D_RS", "Random sampling", filtering, size];
  }
  return c.keep > 0 ? ["D_SS", "Screening and sharpening", filtering, size] : ["D_S", "Only screening", filtering, size];
}

// The paper varies one axis at a time with the other at SPOGW's own setting: Table 3 is trained on
// screened and sharpened data, Table 4 with the masked KL term to the previous checkpoint.
const SPOGW_KL = "w/ KL term\tPrevious iteration's checkpoint\tyes";
const SPOGW_DATA = "D_SS\tScreening and sharpening\tyes";
const dataMethod = (run: RunEvaluations) => dataSettings(run).slice(0, 3); // the group sizes may be any

/** A run's row label: the paper's row when the run was made from a preset, with any settings changed from it. */
function runLabel(run: RunEvaluations, method: string): string {
  const preset = run.config.preset;
  if (preset === null) return `${run.name} (${methodLabel(method)})`;
  const changed = presetOverrides(run.config);
  const paper = changed.length === 0 ? PRESETS[preset].row : `preset ${preset} with ${changed.join(", ")} changed`;
  return `${paper} [${run.name}, ${methodLabel(method)}]`;
}

/** The paper's HumanEval number for a run made from a preset (unchanged), else "-". */
function paperNumber(run: RunEvaluations): string {
  const preset = run.config.preset;
  return preset !== null && presetOverrides(run.config).length === 0 ? PRESETS[preset].paperHumanEval.toFixed(1) : "-";
}

/**
 * An ablation table over the runs that differ from SPOGW only along one axis (`settingsOf`; the other
 * axis, `fixedOf`, at SPOGW's setting); each run contributes its most trained evaluated generator.
 * Null unless at least two such runs have different settings.
 */
function ablationTable(
  runs: readonly RunEvaluations[], title: string, settingHeaders: string[], settingsOf: (r: RunEvaluations) => string[], fixedOf: (r: RunEvaluations) => string[], fixed: string,
): PaperTable | null {
  const evaluated = runs.filter((r) => latestGenerator(r).length > 0 && fixedOf(r).join("\t") === fixed);
  if (new Set(evaluated.map((r) => settingsOf(r).join("\t"))).size < 2) return null;
  const columns = columnsOf(evaluated.flatMap(latestGenerator));
  const rows = evaluated.map((r) => {
    const latest = latestGenerator(r);
    return row(runLabel(r, latest[0]!.method), [...settingsOf(r), paperNumber(r)], latest, columns);
  });
  return { title, settingHeaders: [...settingHeaders, "Paper (HumanEval)"], columns, rows };
}

export function klAblationTable(runs: readonly RunEvaluations[]): PaperTable | null {
  return ablationTable(runs, "Table 3: KL restriction configurations", ["Objective function", "Reference model", "KL mask"], klSettings, dataMethod, SPOGW_DATA);
}

export function dataAblationTable(runs: readonly RunEvaluations[]): PaperTable | null {
  return ablationTable(runs, "Table 4: data processing methods", ["Dataset", "Data processing", "Filtering first", "Group size"], dataSettings, klSettings, SPOGW_KL);
}

/** Table 1, then Tables 3 and 4 where the runs for them exist. */
export function paperTables(runs: readonly RunEvaluations[]): PaperTable[] {
  return [mainTable(runs), klAblationTable(runs), dataAblationTable(runs)].filter((t): t is PaperTable => t !== null);
}

/** A CSV field, quoted when it holds a comma, quote or newline. */
function quote(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function cellText(cell: EvaluationRecord | null): string {
  return cell ? formatSolveRate(cell.solveRate, cell.std) : "-";
}

export function tableToMarkdown(table: PaperTable): string {
  if (table.rows.length === 0) return `**${table.title}**\n\n(no evaluations stored in these runs; run \`spogw-native eval --run RUN ...\` first)`;
  const header = ["Method", ...table.settingHeaders, ...table.columns.map((c) => c.label), "AVG"];
  const escape = (text: string) => text.replace(/\|/g, "\\|");
  const lines = [
    `**${table.title}**`,
    "",
    `| ${header.map(escape).join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 || i <= table.settingHeaders.length ? " --- " : " ---: ")).join("|")}|`,
    ...table.rows.map((r) => `| ${[r.label, ...r.settings, ...r.cells.map(cellText), r.average === null ? "-" : percent(r.average)].map(escape).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** CSV with one column per number: a benchmark column holds the mean in percent, then its std and its number of runs (the protocol is in the column name). */
export function tableToCsv(table: PaperTable): string {
  const header = ["table", "method", ...table.settingHeaders, ...table.columns.flatMap((c) => [c.label, `${c.label} std`, `${c.label} runs`]), "AVG"];
  const lines = [header.map(quote).join(",")];
  for (const r of table.rows) {
    const cells = r.cells.flatMap((c) => (c ? [percent(c.solveRate), percent(c.std), String(c.runSolveRates.length)] : ["", "", ""]));
    lines.push([table.title.split(":")[0]!, r.label, ...r.settings, ...cells, r.average === null ? "" : percent(r.average)].map(quote).join(","));
  }
  return lines.join("\n");
}

/** The runs' training progress: per iteration the mean workflow score, groups and update loss, as `train`/`demo` print them. */
export function trainingTable(runs: readonly RunEvaluations[], format: "markdown" | "csv"): string | null {
  const rows = runs.flatMap((run) => run.training.map((t) => {
    const planned = run.config.iterations;
    const label = t.iteration >= planned ? `final (adapter ${t.iteration})` : String(t.iteration);
    const simulated = run.config.task === "simulated" ? "simulated (not an LLM executor)" : run.config.task;
    return [run.name, simulated, label, t.meanScore === null ? "-" : t.meanScore.toFixed(3), t.groups === null ? "-" : String(t.groups), t.loss === null ? "-" : t.loss.toFixed(4)];
  }));
  if (rows.length === 0) return null;
  const header = ["Run", "Task", "Iteration", "Mean workflow score", "Groups", "Update loss"];
  if (format === "csv") return [["table", ...header], ...rows.map((r) => ["Training", ...r])].map((r) => r.map(quote).join(",")).join("\n");
  return [
    "**Training: mean score of the workflows sampled in each iteration, groups kept, mean update loss**",
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i < 3 ? " --- " : " ---: ")).join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
