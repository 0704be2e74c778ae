// `spogw-native status RUN`: where a run stands, per iteration and phase.
import type { CommandModule } from "yargs";
import { formatReasons, runStatus } from "../../pipeline/index.js";

interface StatusArgs {
  run: string;
  json: boolean;
}

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: "status <run>",
  describe: "Show where a run stands: stored samples, executions, groups, update steps and adapters per iteration",
  builder: (y) =>
    y
      .positional("run", { type: "string", demandOption: true, describe: "run directory" })
      .option("json", { type: "boolean", default: false, describe: "print the status as one JSON object" }),
  // async: an error thrown here then reaches the CLI's failure handler (one line, no stack trace).
  handler: async (argv) => {
    const status = runStatus(argv.run);
    if (argv.json) {
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return;
    }
    const lines = [
      `run ${status.dir}: task ${status.task}${status.task === "simulated" ? " (SIMULATED)" : ""}, ${status.queries} queries, ${status.iterationsPlanned} iterations planned`,
      `per iteration: ${status.samplesPerIteration} workflows, ${status.executionsPerIteration} executions`,
      ...status.iterations.flatMap((it) => [
        `  iteration ${it.iteration}: ${it.samples} workflows` +
          `${it.invalid ? ` (${it.invalid} invalid: ${formatReasons(it.invalidReasons ?? [])})` : ""}, ${it.executions} executions, ${it.groups} groups, ` +
          `${it.logprobs} log-prob rows, ${it.updateSteps} update steps; done: ${it.phasesDone.join(", ") || "nothing"}` +
          `${it.meanScore !== null ? `; mean score ${it.meanScore.toFixed(3)}` : ""}${it.meanExecutorTokens ? `, ${it.meanExecutorTokens.toFixed(0)} executor tokens per execution` : ""}` +
          `${it.loss !== null ? `; loss ${it.loss.toFixed(4)}` : ""}` +
          `${it.samplers.length > 0 ? `; sampled by ${it.samplers.join(", ")}` : ""}` +
          `${it.samplerGap ? `; sampler vs engine max |dp| ${it.samplerGap.maxAbsProb.toExponential(1)} over ${it.samplerGap.tokens} tokens` : ""}` +
          `${it.keptAttempts > 0 ? `; ${it.keptAttempts} generation attempts kept for queries in progress` : ""}`,
        ...(it.warning ? [`    WARNING: ${it.warning}`] : []),
      ]),
      `adapters: ${status.adapters.join(", ") || "none yet"}`,
      `next: ${status.next}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  },
};
