// `spogw-native bench scoring`: wall time to check all 164 HumanEval canonical solutions against their
// hidden tests in the Python sandbox, with the pool (N programs at once) beside one program at a time,
// in one run on this machine.
import { availableParallelism } from "node:os";
import type { CommandModule } from "yargs";
import { createPythonSandbox, loadBenchmark, scoreAnswer, type Problem, type PythonSandbox } from "../../../benchmarks/index.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable } from "../../utils/timing.js";

interface ScoringBenchOptions {
  "data-dir": string | undefined;
  concurrency: number;
}

interface Pass {
  label: string;
  wallMs: number;
  passed: number;
}

/** Scores every problem's reference solution through `sandbox`, all submitted at once (the pool queues them). */
async function checkAll(label: string, problems: Problem[], sandbox: PythonSandbox): Promise<Pass> {
  const started = performance.now();
  const results = await Promise.all(problems.map((p) => scoreAnswer(p, p.family === "code" ? p.referenceSolution : "", { sandbox })));
  const wallMs = performance.now() - started;
  process.stderr.write(`  done: ${label}\n`);
  return { label, wallMs, passed: results.filter((r) => r.score === 1).length };
}

export const benchScoringCommand: CommandModule<object, ScoringBenchOptions> = {
  command: "scoring",
  describe: "Sandboxed checking of all HumanEval canonical solutions: pool vs one at a time",
  builder: (y) =>
    y
      .option("data-dir", { type: "string", describe: "benchmark data folder (default $SPOGW_DATA_DIR)" })
      .option("concurrency", { type: "number", default: availableParallelism(), describe: "programs at once in the pool" }),
  handler: async (argv) => {
    const dataDir = argv["data-dir"] ?? process.env.SPOGW_DATA_DIR;
    if (!dataDir) throw new Error("name the data folder with --data-dir DIR (or set SPOGW_DATA_DIR)");
    if (!Number.isInteger(argv.concurrency) || argv.concurrency < 1) throw new Error(`--concurrency must be a positive whole number (got ${argv.concurrency})`);
    const problems = [...(await loadBenchmark("humaneval", "train", { dataDir })), ...(await loadBenchmark("humaneval", "test", { dataDir }))];
    const pool = await createPythonSandbox({ concurrency: argv.concurrency });
    const serial = await createPythonSandbox({ concurrency: 1, log: () => {} });
    process.stdout.write(`machine: ${describeMachine()}\n`);
    process.stdout.write(`work: ${problems.length} HumanEval canonical solutions + hidden tests, one fresh sandboxed python3 each (${pool.mechanism})\n\n`);
    await checkAll("warm-up", problems.slice(0, 8), pool); // page cache and first-spawn costs out of the timings
    const passes = [await checkAll(`pool of ${pool.concurrency}`, problems, pool), await checkAll("one at a time", problems, serial)];
    const slowest = Math.max(...passes.map((p) => p.wallMs));
    const rows = [["mode", "programs", "passed", "wall s", "programs/s", "speed-up"]];
    for (const p of passes) {
      rows.push([p.label, String(problems.length), String(p.passed), (p.wallMs / 1000).toFixed(2), (problems.length / (p.wallMs / 1000)).toFixed(1), `${(slowest / p.wallMs).toFixed(2)}x`]);
    }
    process.stdout.write(`${formatTable(rows)}\n`);
    process.stdout.write("\nwall = from submitting all programs to the last result; speed-up relative to the slower mode.\n");
  },
};
