// `spogw-native table RUN...`: the paper's Table 1 (methods x benchmarks, average column) from the
// evaluations stored in the runs, Tables 3 and 4 when the runs differ in those settings, and each run's
// training progress (the numbers `train` and `demo` print).
import { writeFileSync } from "node:fs";
import type { CommandModule } from "yargs";
import { join } from "node:path";
import { readSweep, sweepRunName } from "../../pipeline/index.js";
import { isSweepDirectory, loadRunEvaluations, loadSweepReportData, paperTables, sweepTable, tableToCsv, tableToMarkdown, trainingTable } from "../../report/index.js";

interface TableArgs {
  runs: string[];
  format: "markdown" | "csv";
  out?: string;
}

export const tableCommand: CommandModule<object, TableArgs> = {
  command: "table <runs..>",
  describe: "Print the paper's tables (Table 1; Tables 3 and 4 when the ablation runs exist) from stored evaluations",
  builder: (y) =>
    y
      .positional("runs", { type: "string", array: true, demandOption: true, describe: "run directories with evaluations (from eval --run); a sweep directory adds its Figure 3 table and its runs" })
      .option("format", { choices: ["markdown", "csv"] as const, default: "markdown" as const })
      .option("out", { type: "string", describe: "write to this file instead of standard output" }),
  handler: async (argv) => {
    const dirs = argv.runs.map(String);
    const sweeps = dirs.filter(isSweepDirectory);
    // A sweep stands for its runs in the paper's tables.
    const runDirs = dirs.flatMap((dir) => {
      const sweep = sweeps.includes(dir) ? readSweep(dir)! : undefined;
      return sweep ? sweep.values.map((v) => join(dir, sweepRunName(sweep.axis, v))) : [dir];
    });
    const runs = runDirs.map((dir) => loadRunEvaluations(dir));
    const tables = paperTables(runs);
    const training = trainingTable(runs, argv.format);
    const sections = [
      ...tables.map(argv.format === "csv" ? tableToCsv : tableToMarkdown),
      ...sweeps.map((dir) => sweepTable(loadSweepReportData(dir), argv.format)),
      ...(training === null ? [] : [training]),
    ];
    const text = `${sections.join("\n\n")}\n`;
    if (argv.out) writeFileSync(argv.out, text);
    else process.stdout.write(text);
  },
};
