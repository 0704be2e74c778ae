// `spogw-native demo`: the whole SPOGW loop offline on a tiny generated model and a *simulated* task
// family (no download, no API key), showing the mean workflow score across iterations.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { DEFAULT_CONFIG, runDemo, SIMULATED_NOTICE } from "../../pipeline/index.js";
import { progressPrinter } from "../utils/progressPrinter.js";
import { printTrainSummary } from "../utils/runReport.js";

interface DemoArgs {
  run?: string;
  json: boolean;
  seed: number;
  iterations: number;
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: "demo",
  describe: "Run SPOGW offline in a few minutes: tiny generated model, SIMULATED task family and executor",
  builder: (y) =>
    y
      .option("run", { type: "string", describe: "run directory (default: a new one under the system temp directory); an existing demo run is resumed" })
      .option("json", { type: "boolean", default: false, describe: "end with one JSON line: per-iteration mean score, groups, loss, and the final score" })
      .option("seed", { type: "number", default: DEFAULT_CONFIG.seed, describe: "seed of the whole run" })
      .option("iterations", { type: "number", default: DEFAULT_CONFIG.iterations, describe: "SPOGW iterations" }),
  handler: async (argv) => {
    const dir = argv.run ?? mkdtempSync(join(tmpdir(), "spogw-demo-"));
    process.stderr.write(`${SIMULATED_NOTICE}\n[SIMULATED] run directory: ${dir}\n`);
    const summary = await runDemo(dir, { settings: { seed: argv.seed, iterations: argv.iterations }, onProgress: progressPrinter(process.stderr, "[SIMULATED] ") });
    printTrainSummary(summary, argv.json);
  },
};
