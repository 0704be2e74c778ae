// How train and demo print their results: a line per iteration, then (with --json) one JSON line last.
import type { TrainSummary } from "../../pipeline/index.js";
import { formatReasons, SIMULATED_NOTICE } from "../../pipeline/index.js";

export function printTrainSummary(summary: TrainSummary, json: boolean, out: NodeJS.WritableStream = process.stdout): void {
  const tag = summary.simulated ? "[SIMULATED] " : "";
  if (summary.simulated) out.write(`${SIMULATED_NOTICE}\n`);
  for (const it of summary.iterations) {
    const invalid = it.invalid > 0 ? ` (${it.invalid} invalid: ${formatReasons(it.invalidReasons)})` : ", all valid";
    out.write(`${tag}iteration ${it.iteration}: mean workflow score ${it.meanScore.toFixed(3)} (task ${summary.task}), ${it.workflows} workflows${invalid}, ` +
      `${it.groups} groups, update loss ${it.loss.toFixed(4)}\n`);
    if (it.warning) out.write(`${tag}WARNING: ${it.warning}\n`);
  }
  out.write(`${tag}final: mean score ${summary.final.meanScore.toFixed(3)} of workflows sampled from the last adapter\n`);
  if (json) out.write(`${JSON.stringify({ iterations: summary.iterations, final: summary.final })}\n`);
}
