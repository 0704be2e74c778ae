// The paper's Figure 3 from a sweep directory: the score against the swept setting (beta, group size
// 2t, dataset size N), one point per run. A point is the mean score of the workflows the run's last
// adapter wrote (its final collect, on the training queries), and, where the runs were evaluated, the
// solve rate of each run's most trained evaluated generator per benchmark and protocol.
import { basename, join, resolve } from "node:path";
import { generatorIteration, type EvaluationRecord } from "../evaluation/evaluationStore.js";
import { formatSolveRate, protocolTag } from "../evaluation/format.js";
import { readSweep, sweepRunName, type SweepAxis } from "../pipeline/sweep.js";
import { chartFigures, escapeHtml, renderPage, type ReportChart } from "./html.js";
import { loadRunEvaluations } from "./runData.js";

export interface SweepPoint {
  /** The swept setting's value, and the x of the figure (2t for keep). */
  value: number;
  x: number;
  run: string;
  /** Mean workflow score of each finished collect, iteration 0 first (null where not done). */
  iterationScores: Array<number | null>;
  /** The final collect's mean score (workflows from the last adapter), null until the run has finished. */
  finalScore: number | null;
  /** The most trained evaluated generator's evaluations. */
  evaluations: EvaluationRecord[];
}

export interface SweepReportData {
  name: string;
  dir: string;
  axis: SweepAxis;
  /** What the x axis shows, in the paper's words. */
  xLabel: string;
  task: string;
  simulated: boolean;
  points: SweepPoint[];
}

const X_LABELS: Record<SweepAxis, string> = { beta: "KL coefficient beta", keep: "group size 2t", topN: "dataset size d (groups kept, N)" };

/** True when `dir` holds a sweep (sweep.json). */
export function isSweepDirectory(dir: string): boolean {
  return readSweep(dir) !== undefined;
}

export function loadSweepReportData(dir: string): SweepReportData {
  const sweep = readSweep(dir);
  if (!sweep) throw new Error(`${dir} holds no sweep (no sweep.json); start one with \`spogw-native sweep\``);
  const points = sweep.values.map((value): SweepPoint => {
    const run = sweepRunName(sweep.axis, value);
    const { config, training, evaluations } = loadRunEvaluations(join(dir, run));
    const scores = Array.from({ length: config.iterations }, (_, i) => training.find((t) => t.iteration === i)?.meanScore ?? null);
    const iterations = evaluations.map((e) => generatorIteration(e.method)).filter((i): i is number => i !== null);
    const latest = iterations.length === 0 ? [] : evaluations.filter((e) => generatorIteration(e.method) === Math.max(...iterations));
    return {
      value, x: sweep.axis === "keep" ? 2 * value : value, run, iterationScores: scores,
      finalScore: training.find((t) => t.iteration === config.iterations)?.meanScore ?? null, evaluations: latest,
    };
  });
  return {
    name: basename(resolve(dir)), dir, axis: sweep.axis, xLabel: X_LABELS[sweep.axis], task: sweep.settings.task, simulated: sweep.settings.task === "simulated", points,
  };
}

/** A column of solve rates: one benchmark, split, problem count and protocol. */
const columnKey = (e: EvaluationRecord) => `${e.benchmark} ${e.split}, ${e.problems} problems, ${protocolTag(e.protocol)}`;

/** Figure 3's curves: the final training score, and each evaluated column's solve rate. */
export function sweepCharts(data: SweepReportData): ReportChart[] {
  const labels = data.points.map((p) => String(p.x));
  const line = (label: string, values: Array<number | null>, i: number) => ({
    label, data: values, borderColor: ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"][i % 4], backgroundColor: ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"][i % 4],
    pointRadius: 5, borderWidth: 2, spanGaps: true,
  });
  const charts: ReportChart[] = [];
  if (data.points.some((p) => p.finalScore !== null)) {
    charts.push({
      id: `figure3-${data.axis}`,
      title: `Mean score of the last adapter's workflows (training queries) against the ${data.xLabel}`,
      config: {
        type: "line",
        data: { labels, datasets: [line("final mean workflow score", data.points.map((p) => p.finalScore), 0)] },
        options: { scales: { x: { title: { display: true, text: data.xLabel } }, y: { title: { display: true, text: "mean workflow score" } } } },
      },
    });
  }
  const columns = [...new Set(data.points.flatMap((p) => p.evaluations.map(columnKey)))].sort();
  if (columns.length > 0) {
    charts.push({
      id: `figure3-${data.axis}-solve-rate`,
      title: `Solve rate (%) of each run's most trained evaluated generator against the ${data.xLabel}`,
      config: {
        type: "line",
        data: {
          labels,
          datasets: columns.map((column, i) => line(column, data.points.map((p) => {
            const e = p.evaluations.find((x) => columnKey(x) === column);
            return e ? e.solveRate * 100 : null;
          }), i)),
        },
        options: { scales: { x: { title: { display: true, text: data.xLabel } }, y: { title: { display: true, text: "solve rate (%)" } } } },
      },
    });
  }
  return charts;
}

export function renderSweepReport(data: SweepReportData, options: { chartLibrary?: string } = {}): string {
  const charts = sweepCharts(data);
  const iterations = Math.max(0, ...data.points.map((p) => p.iterationScores.length));
  const header = `<tr><th>${escapeHtml(data.xLabel)}</th><th>run</th>${Array.from({ length: iterations }, (_, i) => `<th>iteration ${i}</th>`).join("")}` +
    `<th>final (last adapter)</th><th>solve rates</th></tr>`;
  const score = (s: number | null) => (s === null ? "-" : s.toFixed(3));
  const rows = data.points.map((p) =>
    `<tr><td>${p.x}</td><td class="text">${escapeHtml(p.run)}</td>${p.iterationScores.map((s) => `<td>${score(s)}</td>`).join("")}<td>${score(p.finalScore)}</td>` +
    `<td class="text">${p.evaluations.map((e) => `${escapeHtml(columnKey(e))}: ${formatSolveRate(e.solveRate, e.std)}`).join("<br>") || "-"}</td></tr>`);
  const body = [
    `<h1>SPOGW sweep report (paper Figure 3): ${escapeHtml(data.name)}</h1>`,
    data.simulated ? `<p class="simulated">SIMULATED task family: every score in this report comes from the demo's probability model, not from an LLM executor.</p>` : "",
    `<p>Sweep directory <code>${escapeHtml(data.dir)}</code>; task <b>${escapeHtml(data.task)}</b>; one run per value of the ${escapeHtml(data.xLabel)}, every other setting equal, all sharing the first run's iteration-0 collection.</p>`,
    `<h2>Mean workflow score per iteration</h2>`,
    `<table>${header}${rows.join("")}</table>`,
    `<h2>Figure 3</h2>`,
    chartFigures(charts, charts.map((c) => c.id)) || `<p class="empty">No run has finished yet.</p>`,
  ].join("\n");
  return renderPage(`SPOGW sweep report: ${escapeHtml(data.name)}`, body, charts, options);
}

/** Figure 3 as a table: one row per value, the final score and each evaluated column's solve rate. */
export function sweepTable(data: SweepReportData, format: "markdown" | "csv"): string {
  const columns = [...new Set(data.points.flatMap((p) => p.evaluations.map(columnKey)))].sort();
  const title = `Figure 3: score against the ${data.xLabel} (${data.name})`;
  const rows = data.points.map((p) => [
    String(p.x), p.run, p.finalScore === null ? "-" : p.finalScore.toFixed(3),
    ...columns.map((column) => {
      const e = p.evaluations.find((x) => columnKey(x) === column);
      return e ? formatSolveRate(e.solveRate, e.std) : "-";
    }),
  ]);
  const header = [data.xLabel, "run", "final mean workflow score (last adapter)", ...columns.map((c) => `solve rate % (${c})`)];
  if (format === "csv") return [["table", ...header], ...rows.map((r) => ["Figure 3", ...r])].map((r) => r.map((cell) => (/[",\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell)).join(",")).join("\n");
  return [`**${title}**`, "", `| ${header.join(" | ")} |`, `|${header.map(() => " --- ").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}
