// The shape shared by the single-phase commands (collect, dataset, update): open a stored run, pick
// the iteration, run the phase (it skips what is stored), print its summary.
import type { CommandModule } from "yargs";
import type { RunContext } from "../../pipeline/index.js";
import { openStoredRun, pickIteration } from "./storedRun.js";

export interface PhaseArgs {
  run: string;
  iteration?: number;
  json: boolean;
}

type Phase = "collect" | "dataset" | "update";

export function phaseCommand(phase: Phase, describe: string, runPhase: (ctx: RunContext, iteration: number) => unknown): CommandModule<object, PhaseArgs> {
  return {
    command: `${phase} <run>`,
    describe,
    builder: (y) =>
      y
        .positional("run", { type: "string", demandOption: true, describe: "run directory (started by train)" })
        .option("iteration", { type: "number", describe: `iteration (default: the first whose ${phase} is not done)` })
        .option("json", { type: "boolean", default: false, describe: "print the phase summary as one JSON line" }),
    handler: async (argv) => {
      const ctx = await openStoredRun(argv.run);
      try {
        const iteration = pickIteration(ctx, phase, argv.iteration);
        const summary = await runPhase(ctx, iteration);
        const tag = ctx.task.simulated ? "[SIMULATED] " : "";
        process.stdout.write(argv.json ? `${JSON.stringify(summary)}\n` : `${tag}${phase} of iteration ${iteration}: ${JSON.stringify(summary)}\n`);
      } finally {
        await ctx.close();
      }
    },
  };
}
