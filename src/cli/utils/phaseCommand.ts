// The shape shared by the single-phase commands (collect, dataset, update): open a stored run, pick
// the iteration, run the phase (it skips what is stored), print its summary.
import type { CommandModule } from "yargs";
import type { RunContext } from "../../pipeline/index.js";
import { withRunFlags } from "./runFlags.js";
import { openRunFromArgv, pickIteration } from "./storedRun.js";

export interface PhaseArgs {
  run: string;
  iteration?: number;
  json: boolean;
  [flag: string]: unknown;
}

type Phase = "collect" | "dataset" | "update";

export function phaseCommand(phase: Phase, describe: string, runPhase: (ctx: RunContext, iteration: number) => unknown): CommandModule<object, PhaseArgs> {
  return {
    command: `${phase} <run>`,
    describe,
    builder: (y) =>
      withRunFlags(
        y
          .positional("run", { type: "string", demandOption: true, describe: "run directory (created from the settings when new; an existing one keeps its own)" })
          .option("iteration", { type: "number", describe: `iteration (default: the first whose ${phase} is not done)` })
          .option("json", { type: "boolean", default: false, describe: "print the phase summary as one JSON line" }),
      ) as never,
    handler: async (argv) => {
      const ctx = await openRunFromArgv(argv.run, argv);
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
