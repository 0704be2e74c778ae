// `spogw-native report RUN`: writes the run's HTML report (one self-contained file that opens offline).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { loadRunReportData, renderRunReport } from "../../report/index.js";

interface ReportArgs {
  run: string;
  out?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: "report <run>",
  describe: "Write a run's HTML report: scores per iteration, Figure 2 histograms, update steps, solve rates, sample workflows",
  builder: (y) =>
    y
      .positional("run", { type: "string", demandOption: true, describe: "run directory (from train or demo)" })
      .option("out", { type: "string", describe: "HTML file to write (default RUN/report.html)" }),
  handler: async (argv) => {
    const data = loadRunReportData(argv.run);
    const out = argv.out ?? join(argv.run, "report.html");
    try {
      writeFileSync(out, renderRunReport(data));
    } catch (error) {
      throw new Error(`cannot write the report to ${out}: ${(error as Error).message}`);
    }
    const steps = data.updateSteps.length;
    process.stdout.write(`${data.simulated ? "[SIMULATED] " : ""}report of ${data.dir}: ${data.iterations.length} iterations, ${steps} update steps, ${data.evaluations.length} evaluations\n${out}\n`);
  },
};
