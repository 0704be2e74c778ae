// `spogw-native sweep DIR --beta 0.025,0.05,0.1,0.2` (or --keep for the group size 2t, --top-n for the
// dataset size N): the paper's Figure 3, one run per value in DIR, sharing one iteration-0 collection.
// Rerunning `sweep DIR` resumes every run; `report DIR` and `table DIR` draw the curve.
import type { CommandModule } from "yargs";
import {
  ConfigError, createTask, planSweep, preflight, readSweep, runSweep, SIMULATED_NOTICE, SWEEP_AXES, type RunConfig, type SweepAxis,
} from "../../pipeline/index.js";
import { progressPrinter } from "../utils/progressPrinter.js";
import { configFromArgv, withRunFlags } from "../utils/runFlags.js";

interface SweepArgs {
  dir: string;
  beta?: string;
  keep?: string;
  topN?: string;
  json: boolean;
  [flag: string]: unknown;
}

const AXIS_FLAGS: Record<SweepAxis, string> = { beta: "beta", keep: "keep", topN: "top-n" };

/** "0.025,0.05,0.1" as numbers; names the flag when an entry is not a number. */
function parseValues(flag: string, text: string): number[] {
  return text.split(",").map((part) => {
    const value = Number(part.trim());
    if (part.trim() === "" || !Number.isFinite(value)) throw new ConfigError(`--${flag}: "${part}" is not a number (give a comma-separated list, e.g. 0.025,0.05,0.1)`);
    return value;
  });
}

/**
 * The axis (the one of --beta, --keep, --top-n given a list) and its values, or the sweep's own when
 * resuming with none; the others given one value are plain settings (`fixed`).
 */
function axisOf(argv: SweepArgs, dir: string): { axis: SweepAxis; values: number[]; fixed: Record<string, number> } {
  const given = SWEEP_AXES.filter((axis) => argv[axis] !== undefined).map((axis) => ({ axis, values: parseValues(AXIS_FLAGS[axis], String(argv[axis])) }));
  const lists = given.filter((g) => g.values.length > 1);
  if (lists.length > 1) throw new ConfigError(`a sweep varies one setting; got lists for ${lists.map((g) => `--${AXIS_FLAGS[g.axis]}`).join(" and ")}`);
  const fixed = Object.fromEntries(given.filter((g) => g.values.length === 1).map((g) => [g.axis, g.values[0]!]));
  if (lists.length === 1) return { axis: lists[0]!.axis, values: lists[0]!.values, fixed };
  const existing = readSweep(dir);
  if (!existing) throw new ConfigError(`name the values to sweep: --beta LIST, --keep LIST (t, the group size is 2t) or --top-n LIST (N, the dataset size); ${dir} holds no sweep yet`);
  if (existing.axis in fixed) throw new ConfigError(`${dir} sweeps ${existing.axis}; --${AXIS_FLAGS[existing.axis]} cannot fix it`);
  return { axis: existing.axis, values: existing.values, fixed };
}

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: "sweep <dir>",
  describe: "Figure 3: one run per value of beta, t (group size 2t) or N in DIR, sharing one iteration-0 collection; rerun to resume",
  builder: (y) =>
    withRunFlags(
      y
        .positional("dir", { type: "string", demandOption: true, describe: "sweep directory: sweep.json and one run directory per value (an existing sweep is resumed)" })
        .option("beta", { type: "string", describe: "KL coefficients to sweep, comma-separated (paper: 0.025,0.05,0.1,0.2); one value: a plain setting" })
        .option("keep", { type: "string", alias: "t", describe: "values of t to sweep (group size 2t), comma-separated, each with 2t < n; one value: a plain setting" })
        .option("top-n", { type: "string", describe: "dataset sizes N to sweep, comma-separated; one value: a plain setting" })
        .option("json", { type: "boolean", default: false, describe: "end with one JSON line: per value, the per-iteration and final mean scores" }),
      [...SWEEP_AXES],
    ) as never,
  handler: async (argv) => {
    const { axis, values, fixed } = axisOf(argv, argv.dir);
    // Settings: the sweep's own when resuming, under the --config file and flags (--beta/--keep/--top-n given one value).
    const settings: RunConfig = configFromArgv(argv, readSweep(argv.dir)?.settings ?? {}, [...SWEEP_AXES], fixed);
    const runs = planSweep(argv.dir, axis, values, settings as unknown as Record<string, unknown>);
    await preflight(runs[0]!.config);
    const simulated = settings.task === "simulated";
    const tag = simulated ? "[SIMULATED] " : "";
    if (simulated) process.stderr.write(`${SIMULATED_NOTICE}\n`);
    let current = runs[0]!.name;
    let progress = progressPrinter(process.stderr, `${tag}[${current}] `);
    const results = await runSweep(argv.dir, runs, {
      createTask,
      onProgress: (event) => progress(event),
      onWarning: (message) => process.stderr.write(`${tag}[${current}] WARNING: ${message}\n`),
      onRunStart: (run, shared) => {
        current = run.name;
        progress = progressPrinter(process.stderr, `${tag}[${current}] `);
        process.stderr.write(`${tag}[${run.name}] ${axis} = ${run.value}${shared ? `: iteration 0 shared from ${shared.from} (no sampling, no executor calls)` : ""}\n`);
      },
    });
    for (const { run, sharedFrom, summary } of results) {
      const scores = summary.iterations.map((it) => it.meanScore.toFixed(3)).join(" -> ");
      process.stdout.write(`${tag}${axis} = ${run.value} (${run.name}${sharedFrom ? `, iteration 0 from ${sharedFrom}` : ""}): mean workflow score ${scores} -> final ${summary.final.meanScore.toFixed(3)}\n`);
    }
    if (argv.json) {
      process.stdout.write(`${JSON.stringify({
        axis, runs: results.map((r) => ({ value: r.run.value, run: r.run.name, sharedFrom: r.sharedFrom, iterations: r.summary.iterations.map((it) => it.meanScore), final: r.summary.final.meanScore })),
      })}\n`);
    }
  },
};
