// `spogw-native report RUN`: writes the run's HTML report (one self-contained file that opens offline).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { isSweepDirectory, loadRunReportData, loadSweepReportData, renderRunReport, renderSweepReport } from "../../report/index.js";

interface ReportArgs {
  run: string;
  out?: string;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: "report <run>",
  describe: "Write a run's HTML report: scores per iteration, Figure 2 histograms, update steps, solve rates, sample workflows",
  builder: (y) =>
    y
      .positional("run", { type: "string", demandOption: true, describe: "run directory (from train or demo), or a sweep directory (Figure 3)" })
      .option("out", { type: "string", describe: "HTML file to write (default RUN/report.html)" }),
  handler: async (argv) => {
    const out = argv.out ?? join(argv.run, "report.html");
    const write = (html: string) => {
      try {
        writeFileSync(out, html);
      } catch (error) {
        throw new Error(`cannot write the report to ${out}: ${(error as Error).message}`);
      }
    };
    if (isSweepDirectory(argv.run)) {
      const sweep = loadSweepReportData(argv.run);
      write(renderSweepReport(sweep));
      const finished = sweep.points.filter((p) => p.finalScore !== null).length;
      process.stdout.write(`${sweep.simulated ? "[SIMULATED] " : ""}sweep report of ${sweep.dir}: ${sweep.xLabel}, ${sweep.points.length} runs, ${finished} finished\n${out}\n`);
      return;
    }
    const data = loadRunReportData(argv.run);
    write(renderRunReport(data));
    const steps = data.updateSteps.length;
    process.stdout.write(`${data.simulated ? "[SIMULATED] " : ""}report of ${data.dir}: ${data.iterations.length} iterations, ${steps} update steps, ${data.evaluations.length} evaluations\n${out}\n`);
  },
};
