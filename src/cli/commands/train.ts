// `spogw-native train RUN`: all SPOGW iterations (collect -> dataset -> update) and a final collect
// scoring the last adapter. Rerunning it on the same RUN continues where it stopped.
import type { CommandModule } from "yargs";
import { createTask, openRun, preflight, runTrain, storedConfig } from "../../pipeline/index.js";
import { progressPrinter } from "../utils/progressPrinter.js";
import { printTrainSummary } from "../utils/runReport.js";
import { configFromArgv, withRunFlags } from "../utils/runFlags.js";

interface TrainArgs {
  run: string;
  json: boolean;
  [flag: string]: unknown;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: "train <run>",
  describe: "Run SPOGW (collect -> dataset -> update per iteration) into run directory RUN; rerun to resume",
  builder: (y) =>
    withRunFlags(
      y
        .positional("run", { type: "string", demandOption: true, describe: "run directory (created; an existing one is resumed with its own settings)" })
        .option("json", { type: "boolean", default: false, describe: "end with one JSON line: per-iteration mean score, groups, loss, and the final score" }),
    ) as never,
  handler: async (argv) => {
    // An existing run's own settings come first, so `train RUN` alone resumes it.
    const config = configFromArgv(argv, storedConfig(argv.run) ?? {});
    await preflight(config);
    const ctx = openRun(argv.run, config, await createTask(config, argv.run), { onProgress: progressPrinter() });
    try {
      printTrainSummary(await runTrain(ctx), argv.json);
    } finally {
      await ctx.close();
    }
  },
};
