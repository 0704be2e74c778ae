// The run report: one self-contained HTML file (Chart.js inlined, data embedded, a content security
// policy that forbids every network request) that opens offline. renderRunReport is a pure function of
// the run's data; the chart library's source is read once from the installed chart.js package.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { formatSolveRate, methodLabel, methodOrder, percent, protocolTag } from "../evaluation/format.js";
import { generatorIteration, type EvaluationRecord } from "../evaluation/evaluationStore.js";
import type { IterationData, RunReportData, UpdateStepData } from "./runData.js";

/** One chart of the report: the canvas id and a Chart.js configuration made of plain JSON. */
export interface ReportChart {
  id: string;
  title: string;
  config: ChartConfig;
}

interface ChartConfig {
  type: "line" | "bar";
  data: { labels?: string[]; datasets: Array<Record<string, unknown>> };
  options: Record<string, unknown>;
}

let chartLibraryCache: string | undefined;

/** Chart.js's minified UMD build, without its source-map comment (the map is not shipped in the report). */
export function chartLibrarySource(): string {
  if (chartLibraryCache === undefined) {
    // The package's exports map hides dist/, so the UMD file is found beside its CommonJS entry.
    const entry = createRequire(import.meta.url).resolve("chart.js");
    const source = readFileSync(join(dirname(entry), "chart.umd.min.js"), "utf8");
    chartLibraryCache = source.replace(/\/\/# sourceMappingURL=\S+\s*$/, "").replace(/<\/script/gi, "<\\/script");
  }
  return chartLibraryCache;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
const color = (i: number) => COLORS[i % COLORS.length]!;

export function renderRunReport(data: RunReportData, options: { chartLibrary?: string } = {}): string {
  const charts = reportCharts(data);
  const chartSection = (ids: string[]) => chartFigures(charts, ids);
  const solveRateIds = charts.filter((c) => c.id.startsWith("solve-rate-")).map((c) => c.id);
  const simulatedBanner = data.simulated
    ? `<p class="simulated">SIMULATED task family: every score in this report comes from the demo's probability model, not from an LLM executor.</p>`
    : "";
  const body = [
    `<h1>SPOGW run report: ${escapeHtml(data.name)}</h1>`,
    simulatedBanner,
    `<p>Run directory <code>${escapeHtml(data.dir)}</code>; task <b>${escapeHtml(data.task)}</b>.</p>`,
    settingsTable(data),
    `<h2>Workflow scores per iteration</h2>`,
    `<p>Each workflow's score is the mean of its executions; the band is the mean plus and minus one standard deviation over the iteration's workflows.</p>`,
    iterationTable(data),
    chartSection(["scores-per-iteration"]),
    `<h2>Group-wise dataset (paper Figure 2)</h2>`,
    `<p>Bars: the groups each iteration kept (the run's own data processing; SPOGW's is filtering, screening and sharpening). Lines: the paper's other datasets built from the same scores with groups of the same size, over all iterations: D<sub>RS</sub> random groups, D<sub>RSF</sub> random groups after filtering out zero-variance ones, D<sub>S</sub> screening alone. Heights are shares of each set's groups. Median interval length is the gap between the two middle scores of a group.</p>`,
    chartSection(["group-variance", "median-interval"]) || `<p class="empty">No groups stored yet.</p>`,
    `<h2>Update steps</h2>`,
    chartSection(["update-loss", "update-kl", "update-clip-fraction", "update-grad-norm"]) || `<p class="empty">No update steps stored yet.</p>`,
    `<h2>Solve rates against the baselines</h2>`,
    evaluationTable(data.evaluations),
    chartSection(solveRateIds) || `<p class="empty">No evaluations stored yet: run <code>spogw-native eval --run ${escapeHtml(data.dir)} ...</code>.</p>`,
    `<h2>Sample workflows</h2>`,
    sampleWorkflows(data.iterations),
  ].join("\n");

  return renderPage(`SPOGW run report: ${escapeHtml(data.name)}`, body, charts, options);
}

/** The figures (caption and canvas) of the charts named by `ids`, in that order; "" when none exists. */
export function chartFigures(charts: readonly ReportChart[], ids: readonly string[]): string {
  return ids.map((id) => charts.find((c) => c.id === id)).filter((c): c is ReportChart => c !== undefined)
    .map((c) => `<figure><figcaption>${escapeHtml(c.title)}</figcaption><div class="chart"><canvas id="${c.id}" data-chart="${c.id}"></canvas></div></figure>`)
    .join("\n");
}

/**
 * A self-contained page: the body, its charts' data as JSON, Chart.js inlined, and a content security
 * policy that forbids every request. `title` is HTML (escaped by the caller).
 */
export function renderPage(title: string, body: string, charts: readonly ReportChart[], options: { chartLibrary?: string } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.text { text-align: left; }
figure { margin: 1rem 0; } figcaption { font-weight: 600; margin-bottom: 0.3rem; }
.chart { position: relative; height: 300px; }
pre { text-align: left; font-size: 0.8rem; max-height: 16rem; overflow: auto; margin: 0; white-space: pre-wrap; }
.simulated { background: #fff3cd; border: 1px solid #e0c36a; padding: 0.5rem; font-weight: 600; }
.empty { color: #777; }
</style>
</head>
<body>
${body}
<script type="application/json" id="report-charts">${jsonForScript(charts)}</script>
<script>${options.chartLibrary ?? chartLibrarySource()}</script>
<script>
// Draw every chart at once (no animation), then mark the page as drawn for whoever is watching.
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
const reportCharts = JSON.parse(document.getElementById("report-charts").textContent);
for (const chart of reportCharts) new Chart(document.getElementById(chart.id), chart.config);
document.body.dataset.chartsDrawn = String(reportCharts.length);
</script>
</body>
</html>
`;
}

/** The charts the report draws for this data; a chart with nothing to show is left out. */
export function reportCharts(data: RunReportData): ReportChart[] {
  const charts: ReportChart[] = [];
  const scored = data.iterations.filter((it) => it.workflowScores.length > 0);
  if (scored.length > 0) charts.push(scoresChart(scored));
  const grouped = data.iterations.filter((it) => it.keptVariances.length > 0);
  if (grouped.length > 0) {
    charts.push(histogramChart("group-variance", "Distribution of group variance (scores a group trains on)", grouped, "keptVariances", "variances", 0.25, "variance"));
    charts.push(histogramChart("median-interval", "Distribution of median interval length", grouped, "keptMedianIntervals", "medianIntervals", 1, "median interval length"));
  }
  if (data.updateSteps.length > 0) {
    charts.push(stepChart("update-loss", "Loss (ioGRPO-mKL) per update step", data.updateSteps, (s) => s.loss));
    charts.push(stepChart("update-kl", "KL to the reference policy (k3 estimate, mean per token, before beta and the mask)", data.updateSteps, (s) => s.kl));
    charts.push(stepChart("update-clip-fraction", "Clip fraction (tokens where the clipped branch of the surrogate won: r < 1 - eps with A < 0, or r > 1 + eps_high with A > 0)", data.updateSteps, (s) => s.clipFraction));
    charts.push(stepChart("update-grad-norm", "Gradient norm (before clipping)", data.updateSteps, (s) => s.gradNorm));
  }
  const benchmarks = [...new Set(data.evaluations.map((e) => e.benchmark))].sort();
  for (const benchmark of benchmarks) charts.push(solveRateChart(benchmark, data.evaluations.filter((e) => e.benchmark === benchmark)));
  return charts;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function std(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
}

function iterationLabel(iteration: number): string {
  return iteration === 0 ? "iteration 0 (base)" : `iteration ${iteration} (adapter ${iteration})`;
}

function scoresChart(iterations: IterationData[]): ReportChart {
  const labels = iterations.map((it) => iterationLabel(it.iteration));
  const means = iterations.map((it) => mean(it.workflowScores));
  const spreads = iterations.map((it) => std(it.workflowScores));
  return {
    id: "scores-per-iteration",
    title: "Mean workflow score per iteration, with one standard deviation",
    config: {
      type: "line",
      data: {
        labels,
        datasets: [
          { label: "mean - std", data: means.map((m, i) => m - spreads[i]!), borderColor: "rgba(31,119,180,0.3)", pointRadius: 2, fill: false },
          { label: "mean + std", data: means.map((m, i) => m + spreads[i]!), borderColor: "rgba(31,119,180,0.3)", backgroundColor: "rgba(31,119,180,0.15)", pointRadius: 2, fill: "-1" },
          { label: "mean score", data: means, borderColor: color(0), backgroundColor: color(0), pointRadius: 4, borderWidth: 2 },
        ],
      },
      options: { scales: { y: { title: { display: true, text: "workflow score" } } } },
    },
  };
}

/** Shares of values in `bins` equal bins over [0, top]; values at or above top land in the last bin. */
export function histogram(values: readonly number[], top: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v / top) * bins)))]! += 1;
  return counts.map((c) => (values.length === 0 ? 0 : c / values.length));
}

function histogramChart(
  id: string,
  title: string,
  iterations: IterationData[],
  kept: "keptVariances" | "keptMedianIntervals",
  compared: "variances" | "medianIntervals",
  top: number,
  axis: string,
): ReportChart {
  const bins = 10;
  const labels = Array.from({ length: bins }, (_, i) => `${((i * top) / bins).toFixed(3)}-${(((i + 1) * top) / bins).toFixed(3)}`);
  const datasets: Array<Record<string, unknown>> = iterations.map((it, i) => ({
    type: "bar",
    label: `iteration ${it.iteration}: screened + sharpened (${it[kept].length} groups)`,
    data: histogram(it[kept], top, bins),
    backgroundColor: color(i),
  }));
  const descriptions: Record<string, string> = { D_RS: "random groups", D_RSF: "random groups, filtered", D_S: "screening only" };
  for (const [i, name] of (["D_RS", "D_RSF", "D_S"] as const).entries()) {
    const pooled = iterations.flatMap((it) => it.comparison.find((c) => c.name === name)?.[compared] ?? []);
    if (pooled.length === 0) continue;
    datasets.push({
      type: "line",
      label: `${name}: ${descriptions[name]} (${pooled.length} groups)`,
      data: histogram(pooled, top, bins),
      borderColor: ["#444", "#8c564b", "#e377c2"][i],
      backgroundColor: ["#444", "#8c564b", "#e377c2"][i],
      borderDash: [6, 4],
      pointRadius: 3,
    });
  }
  return {
    id,
    title,
    config: {
      type: "bar",
      data: { labels, datasets },
      options: { scales: { x: { title: { display: true, text: axis } }, y: { title: { display: true, text: "share of groups" }, min: 0 } } },
    },
  };
}

function stepChart(id: string, title: string, steps: UpdateStepData[], value: (s: UpdateStepData) => number): ReportChart {
  const iterations = [...new Set(steps.map((s) => s.iteration))];
  return {
    id,
    title,
    config: {
      type: "line",
      data: {
        datasets: iterations.map((iteration, i) => ({
          label: `update of iteration ${iteration}`,
          data: steps.filter((s) => s.iteration === iteration).map((s) => ({ x: s.globalStep, y: value(s) })),
          borderColor: color(i),
          backgroundColor: color(i),
          pointRadius: 2,
          borderWidth: 1.5,
        })),
      },
      options: { scales: { x: { type: "linear", title: { display: true, text: "update step (whole run)" } } } },
    },
  };
}

function solveRateChart(benchmark: string, evaluations: EvaluationRecord[]): ReportChart {
  const generator = evaluations
    .filter((e) => generatorIteration(e.method) !== null)
    .sort((a, b) => generatorIteration(a.method)! - generatorIteration(b.method)!);
  const baselines = evaluations.filter((e) => generatorIteration(e.method) === null).sort((a, b) => methodOrder(a.method) - methodOrder(b.method));
  const labels = generator.length > 0 ? generator.map((e) => methodLabel(e.method)) : ["(no generator evaluated)"];
  const datasets: Array<Record<string, unknown>> = [];
  if (generator.length > 0) {
    datasets.push({
      label: `generator, per iteration [${protocolTag(generator[0]!.protocol)}]`,
      data: generator.map((e) => e.solveRate * 100),
      borderColor: color(0),
      backgroundColor: color(0),
      pointRadius: 5,
      borderWidth: 2.5,
    });
  }
  baselines.forEach((e, i) => {
    datasets.push({
      label: `${methodLabel(e.method)} ${formatSolveRate(e.solveRate, e.std)} [${protocolTag(e.protocol)}]`,
      data: labels.map(() => e.solveRate * 100),
      borderColor: color(i + 1),
      backgroundColor: color(i + 1),
      borderDash: [5, 4],
      pointRadius: 3,
      borderWidth: 1.5,
    });
  });
  return {
    id: `solve-rate-${benchmark.replace(/[^a-z0-9]+/gi, "-")}`,
    title: `Solve rate on ${benchmark} (percent, mean of runs) per iteration against the baselines`,
    config: { type: "line", data: { labels, datasets }, options: { scales: { y: { title: { display: true, text: "solve rate (%)" } } } } },
  };
}

function settingsTable(data: RunReportData): string {
  const c = data.config;
  const rows: Array<[string, unknown]> = [
    ["iterations", c.iterations], ["m (workflows per query)", c.samplesPerQuery], ["n (group size)", c.groupSize], ["t (sharpening keeps 2t)", c.keep],
    ["N (groups kept)", c.topN], ["selection", c.selection], ["drop zero-variance groups", c.dropZeroVariance], ["score runs", c.scoreRuns],
    ["beta (KL)", c.beta], ["KL mask", c.klMask], ["reference", c.reference], ["epochs", c.epochs], ["learning rate", c.learningRate], ["seed", c.seed],
    ["preset", c.preset ?? "none"], ["distinct groups", c.distinctGroups], ["max groups per query", c.maxGroupsPerQuery ?? "no limit"], ["cost weight (reward = score - L * tokens / 1000)", c.costWeight],
    ["generator sampled by", c.generatorUrl ? `server ${c.generatorUrl}` : "this process (node-llama-cpp)"],
  ];
  const cells = rows.filter(([, v]) => v !== undefined).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`);
  return `<table>${cells.join("")}</table>`;
}

function iterationTable(data: RunReportData): string {
  // The reward column only when it differs from the score (costWeight > 0).
  const rewards = (data.config.costWeight ?? 0) > 0;
  const header = "<tr><th>iteration</th><th>workflows</th><th>invalid (most frequent reasons)</th><th>mean score</th><th>std</th>" +
    `<th>executor tokens per execution</th>${rewards ? "<th>mean reward</th>" : ""}<th>kept groups (distinct, from queries)</th><th>update steps</th><th>mean loss</th>` +
    "<th>sampled by</th><th>sampler vs engine: max |&Delta;p| (tokens)</th></tr>";
  const rows = data.iterations.map((it) => {
    const steps = data.updateSteps.filter((s) => s.iteration === it.iteration);
    const scores = it.workflowScores;
    const reasons = it.invalidReasons.map((r) => `${r.count} × ${escapeHtml(r.reason)}`).join("<br>");
    return `<tr><td>${it.iteration}</td><td>${scores.length}</td><td class="text">${it.invalidWorkflows}${reasons ? `<br>${reasons}` : ""}</td>` +
      `<td>${scores.length ? mean(scores).toFixed(3) : "-"}</td><td>${scores.length ? std(scores).toFixed(3) : "-"}</td>` +
      `<td>${it.meanExecutorTokens === null ? "-" : it.meanExecutorTokens.toFixed(0)}</td>${rewards ? `<td>${it.meanReward === null ? "-" : it.meanReward.toFixed(3)}</td>` : ""}` +
      `<td>${it.keptVariances.length} (${it.keptDistinct}, ${it.keptQueries})</td><td>${steps.length}</td>` +
      `<td>${steps.length ? mean(steps.map((s) => s.loss)).toFixed(4) : "-"}</td><td class="text">${escapeHtml(it.samplers.join(", "))}</td>` +
      `<td>${it.samplerGap ? `${it.samplerGap.maxAbsProb.toExponential(1)} (${it.samplerGap.tokens})` : "-"}</td></tr>`;
  });
  const warnings = data.iterations.filter((it) => it.warning).map((it) => `<p class="simulated">WARNING: ${escapeHtml(it.warning!)}</p>`);
  return `<table>${header}${rows.join("")}</table>${warnings.join("")}`;
}

function evaluationTable(evaluations: EvaluationRecord[]): string {
  if (evaluations.length === 0) return "";
  const sorted = [...evaluations].sort((a, b) => a.benchmark.localeCompare(b.benchmark) || methodOrder(a.method) - methodOrder(b.method));
  const rows = sorted.map((e) =>
    `<tr><td class="text">${escapeHtml(methodLabel(e.method))}</td><td class="text">${escapeHtml(e.benchmark)} ${escapeHtml(e.split)}</td><td>${e.problems}</td>` +
    `<td>${formatSolveRate(e.solveRate, e.std)}</td><td>${e.runSolveRates.map(percent).join(", ")}</td><td class="text">${escapeHtml(protocolTag(e.protocol))}</td><td class="text">${escapeHtml(e.executor)}</td></tr>`);
  return `<table><tr><th>method</th><th>benchmark</th><th>problems</th><th>solve rate % (mean ± std)</th><th>runs %</th><th>scoring protocol</th><th>executor</th></tr>${rows.join("")}</table>`;
}

function sampleWorkflows(iterations: IterationData[]): string {
  const withSamples = iterations.filter((it) => it.samples.length > 0);
  if (withSamples.length === 0) return `<p class="empty">No workflows stored yet.</p>`;
  return withSamples.map((it) => {
    const rows = it.samples.map((s) =>
      `<tr><td class="text">${escapeHtml(s.queryId)} #${s.sampleIndex}</td><td>${s.score.toFixed(3)}</td>` +
      `<td class="text">${s.workflow === null ? `<i>invalid: ${escapeHtml(s.invalidReason ?? "no reason stored")}</i>` : `<pre>${escapeHtml(s.workflow)}</pre>`}</td></tr>`);
    return `<h3>${escapeHtml(iterationLabel(it.iteration))}</h3><table><tr><th>query / sample</th><th>score</th><th>workflow</th></tr>${rows.join("")}</table>`;
  }).join("\n");
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** JSON inside a <script> element: "<" escaped so no string in the data can close the element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}
