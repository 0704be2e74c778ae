// `spogw-native bench gemm`: achieved GFLOP/s of the native GEMM for a Qwen2.5-0.5B MLP projection
// (tokens M, hidden K, intermediate N) in its forward and both backward forms, beside the plain loop.
import type { CommandModule } from "yargs";
import { gemm, gemmReference } from "../../../native/index.js";
import { describeMachine } from "../../utils/machine.js";
import { randomArray } from "../../utils/benchInputs.js";
import { formatTable, timeAsync } from "../../utils/timing.js";

interface GemmBenchOptions {
  m: number;
  k: number;
  n: number;
  runs: number;
  naive: boolean;
}

export const benchGemmCommand: CommandModule<object, GemmBenchOptions> = {
  command: "gemm",
  describe: "GEMM GFLOP/s: forward (X W^T) and the two backward products, beside the naive loop",
  builder: (y) =>
    y
      .option("m", { type: "number", default: 512, describe: "tokens (rows of X)" })
      .option("k", { type: "number", default: 896, describe: "input width (hidden size)" })
      .option("n", { type: "number", default: 4864, describe: "output width (MLP intermediate size)" })
      .option("runs", { type: "number", default: 5, describe: "timed runs per shape (median reported)" })
      .option("naive", { type: "boolean", default: true, describe: "also time the plain loop (one run each; slow)" }),
  handler: async (argv) => {
    const { m, k, n } = argv;
    for (const [name, v] of Object.entries({ m, k, n, runs: argv.runs })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive whole number (got ${v})`);
    }
    const x = randomArray(m * k, 1); // X  [M, K]
    const w = randomArray(n * k, 2); // W  [N, K] (PyTorch Linear layout)
    const dy = randomArray(m * n, 3); // dY [M, N]
    // Each case: [label, rows, cols, inner, a, b, transA, transB]
    const cases = [
      ["forward  Y = X W^T   (NT)", m, n, k, x, w, false, true],
      ["backward dX = dY W   (NN)", m, k, n, dy, w, false, false],
      ["backward dW = dY^T X (TN)", n, k, m, dy, x, true, false],
    ] as const;
    process.stdout.write(`machine: ${describeMachine()}\n`);
    process.stdout.write(`shape: M=${m} K=${k} N=${n}; ${(2 * m * n * k / 1e9).toFixed(2)} GFLOP per product\n\n`);
    const rows: string[][] = [["product", "native ms", "native GFLOP/s", "naive ms", "naive GFLOP/s", "speed-up"]];
    for (const [label, rr, cc, inner, a, b, ta, tb] of cases) {
      const flop = 2 * rr * cc * inner;
      const fast = await timeAsync(() => gemm(a, b, rr, cc, inner, ta, tb), argv.runs);
      const row = [label, fast.medianMs.toFixed(2), (flop / fast.medianMs / 1e6).toFixed(1)];
      if (argv.naive) {
        const t0 = performance.now();
        await gemmReference(a, b, rr, cc, inner, ta, tb);
        const naiveMs = performance.now() - t0;
        row.push(naiveMs.toFixed(0), (flop / naiveMs / 1e6).toFixed(2), `${(naiveMs / fast.medianMs).toFixed(0)}x`);
      } else row.push("-", "-", "-");
      rows.push(row);
      process.stderr.write(`  done: ${label}\n`);
    }
    process.stdout.write(`${formatTable(rows)}\n`);
    process.stdout.write("\nnative = the addon's gemm() (median of runs after a warm-up); naive = plain triple loop with float64 accumulation (one run).\n");
  },
};
