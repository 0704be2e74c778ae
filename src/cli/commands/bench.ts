// `spogw-native bench <what>`: benchmarks that print ours beside a reference or peer, in one run, with
// the machine described. One subcommand per file in ./bench.
import type { CommandModule } from "yargs";
import { benchEngineCommand } from "./bench/engine.js";
import { benchGemmCommand } from "./bench/gemm.js";
import { benchLossCommand } from "./bench/loss.js";
import { benchSamplingCommand } from "./bench/sampling.js";
import { benchScoringCommand } from "./bench/scoring.js";
import { benchUpdateCommand } from "./bench/update.js";
import { benchWorkflowsCommand } from "./bench/workflows.js";

export const benchCommand: CommandModule = {
  command: "bench <what>",
  describe: "Benchmarks, each printed side by side with its reference on this machine",
  builder: (y) => y.command(benchEngineCommand).command(benchGemmCommand).command(benchLossCommand).command(benchSamplingCommand).command(benchScoringCommand).command(benchUpdateCommand).command(benchWorkflowsCommand).demandCommand(1, "Name a benchmark: `spogw-native bench --help` lists them."),
  handler: () => {},
};
