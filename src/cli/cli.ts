#!/usr/bin/env node
// The `spogw-native` command line: a thin shell over the library. One command per file in ./commands.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { infoCommand } from "./commands/info.js";
import { benchCommand } from "./commands/bench.js";
import { buildCommand } from "./commands/build.js";
import { tinyModelCommand } from "./commands/tinyModel.js";
import { inspectCommand } from "./commands/inspect.js";
import { dataCommand } from "./commands/data.js";
import { serveCommand } from "./commands/serve.js";
import { evalCommand } from "./commands/eval.js";
import { reportCommand } from "./commands/report.js";
import { tableCommand } from "./commands/table.js";
import { trainCommand } from "./commands/train.js";
import { collectCommand } from "./commands/collect.js";
import { datasetCommand } from "./commands/dataset.js";
import { updateCommand } from "./commands/update.js";
import { statusCommand } from "./commands/status.js";
import { demoCommand } from "./commands/demo.js";
import { sweepCommand } from "./commands/sweep.js";
import { packageVersion } from "../packageInfo.js";

await yargs(hideBin(process.argv))
  .scriptName("spogw-native")
  .usage("$0 <command> [options]\n\nTrain LLM workflow generators with SPOGW (ioGRPO + advantage-masked KL) on LoRA adapters.")
  .command(infoCommand)
  .command(buildCommand)
  .command(benchCommand)
  .command(tinyModelCommand)
  .command(inspectCommand)
  .command(dataCommand)
  .command(trainCommand)
  .command(sweepCommand)
  .command(collectCommand)
  .command(datasetCommand)
  .command(updateCommand)
  .command(statusCommand)
  .command(demoCommand)
  .command(serveCommand)
  .command(evalCommand)
  .command(reportCommand)
  .command(tableCommand)
  .demandCommand(1, "Name a command; `spogw-native --help` lists them.")
  .recommendCommands()
  .strict()
  .strictCommands()
  .version(packageVersion())
  .alias("v", "version")
  .alias("h", "help")
  .wrap(Math.min(120, process.stdout.columns ?? 100))
  .fail((message, error, y) => {
    // A usage error prints the help; a failure inside a command prints its message only (no stack
    // trace) and exits 1, so users see what to fix rather than where it broke.
    if (error) {
      process.stderr.write(`spogw-native: ${error.message}\n`);
      if (process.env.SPOGW_DEBUG) process.stderr.write(`${error.stack ?? ""}\n`);
    } else {
      y.showHelp("error");
      process.stderr.write(`\n${message}\n`);
    }
    process.exit(1);
  })
  .parseAsync();
