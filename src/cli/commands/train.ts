// `spogw-native train RUN`: all SPOGW iterations (collect -> dataset -> update) and a final collect
// scoring the last adapter. Rerunning it on the same RUN continues where it stopped.
import type { CommandModule } from "yargs";
import { runTrain } from "../../pipeline/index.js";
import { printTrainSummary } from "../utils/runReport.js";
import { withRunFlags } from "../utils/runFlags.js";
import { openRunFromArgv, printRunConfig, resolveRunConfig } from "../utils/storedRun.js";

interface TrainArgs {
  run: string;
  json: boolean;
  "print-config": boolean;
  [flag: string]: unknown;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: "train <run>",
  describe: "Run SPOGW (collect -> dataset -> update per iteration) into run directory RUN; rerun to resume",
  builder: (y) =>
    withRunFlags(
      y
        .positional("run", { type: "string", demandOption: true, describe: "run directory (created; an existing one is resumed with its own settings)" })
        .option("json", { type: "boolean", default: false, describe: "end with one JSON line: per-iteration mean score, groups, loss, and the final score" })
        .option("print-config", { type: "boolean", default: false, describe: "print the resolved run settings (YAML; JSON with --json) and exit without creating or changing the run" }),
    ) as never,
  handler: async (argv) => {
    if (argv["print-config"]) {
      printRunConfig(resolveRunConfig(argv.run, argv), argv.json);
      return;
    }
    // An existing run's own settings come first, so `train RUN` alone resumes it.
    const ctx = await openRunFromArgv(argv.run, argv);
    try {
      printTrainSummary(await runTrain(ctx), argv.json);
    } finally {
      await ctx.close();
    }
  },
};
