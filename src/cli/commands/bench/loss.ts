// `spogw-native bench loss`: the fused log-prob + ioGRPO-mKL kernel beside (a) the same two products
// (logits = hidden lmHead^T, dHidden = dlogits lmHead) as BLAS GEMMs over all T rows, (b) the fused
// kernel's own two products alone (lm_head_logits.h) in its own tiles, and (c) an unfused baseline that materialises the full [T x V] logits (the same
// row math with one tile of all T rows: the most memory-frugal unfused form, so the memory ratio is
// conservative). Time, GFLOP/s counted as 4 T d V, and peak extra memory (resident set growth during
// the call, sampled every 2 ms; the kernel's own scratch accounting beside it).
import { loadavg } from "node:os";
import type { CommandModule } from "yargs";
import { grpoLossDetailed, type GrpoLossInput } from "../../../loss/index.js";
import { gemm, info } from "../../../native/index.js";
import { native } from "../../../native/loadBinding.js";
import { describeMachine } from "../../utils/machine.js";
import { randomArray } from "../../utils/benchInputs.js";
import { formatTable, measureInterleaved, mib, type Measured } from "../../utils/timing.js";

interface LossBenchOptions {
  tokens: number;
  hidden: number;
  vocab: number;
  runs: number;
  device: string;
  unfused: boolean;
}

export const benchLossCommand: CommandModule<object, LossBenchOptions> = {
  command: "loss",
  describe: "Fused log-prob + GRPO loss kernel vs its own two products alone, BLAS GEMMs, and an unfused (full logits) baseline",
  builder: (y) =>
    y
      .option("tokens", { type: "number", default: 2048, describe: "T: response tokens scored" })
      .option("hidden", { type: "number", default: 896, describe: "d: hidden size (Qwen2.5-0.5B: 896)" })
      .option("vocab", { type: "number", default: 151936, describe: "V: vocabulary size (Qwen2.5: 151936)" })
      .option("runs", { type: "number", default: 2, describe: "interleaved rounds: each variant runs once per round (best and median reported)" })
      .option("device", { type: "string", default: "cpu", choices: ["cpu", "cuda"], describe: "where the loss kernel runs" })
      .option("unfused", { type: "boolean", default: true, describe: "also run the unfused baseline (needs T x V x 4 bytes)" }),
  handler: async (argv) => {
    const { tokens: T, hidden: d, vocab: V } = argv;
    for (const [name, v] of Object.entries({ tokens: T, hidden: d, vocab: V, runs: argv.runs })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive whole number (got ${v})`);
    }
    if (T * V > 2 ** 31) throw new Error(`--tokens x --vocab = ${T * V} exceeds what one Float32Array can hold for the baselines`);
    const device = argv.device === "cuda" ? "cuda" : "cpu";
    const S = Math.max(1, Math.min(16, T));
    const input: GrpoLossInput = {
      hidden: randomArray(T * d, 1, 2),
      lmHead: randomArray(V * d, 2, 0.2),
      targets: new Int32Array(T).map((_, t) => (t * 7919) % V),
      seqStarts: new Int32Array(S + 1).map((_, i) => Math.round((i * T) / S)),
      advantages: new Float32Array(S).map((_, i) => (i % 2 === 0 ? 1 : -1) * (0.5 + i / S)),
      seqWeights: new Float32Array(S).fill(1 / T),
      oldLogp: randomArray(T, 3, 1).map((x) => x - 12),
      refLogp: randomArray(T, 4, 1).map((x) => x - 12),
      epsilon: 0.2, epsilonHigh: 0.28, beta: 0.1, temperature: 0.7, klMask: "advantage",
    };
    const gflop = (4 * T * d * V) / 1e9;
    process.stdout.write(`machine: ${describeMachine()}\n`);
    process.stdout.write(`shape: T=${T} d=${d} V=${V}; ${gflop.toFixed(1)} GFLOP per call (4 T d V); device ${device}; ${argv.runs} interleaved round(s)\n\n`);

    let tileRows = 0, workspace = 0, unfusedWorkspace = 0;
    // A warm-up call (BLAS threads and buffers, device context) that also reports the kernel's tile size.
    const probe = await grpoLossDetailed(input, { device });
    tileRows = probe.native.tileRows;
    workspace = probe.native.workspaceBytes;
    // The GEMM baselines exist for the CPU only (the addon exposes no CUDA GEMM on its own).
    const variants: Array<{ name: string; fn: () => Promise<unknown> }> = [{ name: "fused", fn: () => grpoLossDetailed(input, { device }) }];
    if (device === "cpu") {
      variants.push({ name: "gemms", fn: async () => {
        const logits = await gemm(input.hidden, input.lmHead, T, V, d, false, true);
        await gemm(logits, input.lmHead, T, d, V, false, false);
      } });
      variants.push({ name: "gemmsTiled", fn: () => native().lossGemmsOnly(input.hidden, input.lmHead, T, tileRows) });
    }
    if (argv.unfused) {
      variants.push({ name: "unfused", fn: async () => {
        unfusedWorkspace = (await grpoLossDetailed(input, { device, tileRows: T })).native.workspaceBytes;
      } });
    }
    const loadBefore = loadavg()[0] ?? NaN;
    const m = await measureInterleaved(variants, argv.runs);
    const loadAfter = loadavg()[0] ?? NaN;
    const fused = m.get("fused")!, gemms = m.get("gemms") ?? null;
    const gemmsTiled = m.get("gemmsTiled") ?? null, unfused = m.get("unfused") ?? null;

    const row = (label: string, m: Measured | null, scratch: string): string[] => m
      ? [label, m.minMs.toFixed(0), m.medianMs.toFixed(0), (gflop / m.minMs * 1e3).toFixed(1), m.minCpuMs.toFixed(0), mib(m.peakExtraBytes), scratch]
      : [label, "-", "-", "-", "-", "-", "-"];
    const rows = [
      ["variant", "best ms", "median ms", "GFLOP/s", "CPU ms", "peak extra RSS", "scratch (own count)"],
      row(`fused kernel (tiles of ${tileRows} rows)`, fused, mib(workspace)),
      row("its two products alone, same tiles", gemmsTiled, gemmsTiled ? mib(tileRows * V * 4) : "-"),
      row("two BLAS GEMMs, all T rows at once", gemms, gemms ? mib(T * V * 4) : "-"),
      row("unfused: full [T x V] logits", unfused, unfused ? mib(unfusedWorkspace) : "-"),
    ];
    process.stdout.write(`${formatTable(rows)}\n\n`);
    if (gemms) {
      process.stdout.write(`throughput, fused / two BLAS GEMMs: ${(100 * gemms.minMs / fused.minMs).toFixed(1)}% by best wall time, ` +
        `${(100 * gemms.minCpuMs / fused.minCpuMs).toFixed(1)}% by CPU time (target >= 80%)\n`);
    } else {
      process.stdout.write("throughput vs BLAS GEMMs: not measured for --device cuda (no CUDA GEMM binding to compare with)\n");
    }
    if (gemms && gemmsTiled) {
      process.stdout.write(`  where the time goes (CPU time): BLAS GEMMs all rows / own products in tiles = ${(100 * gemms.minCpuMs / gemmsTiled.minCpuMs).toFixed(1)}% ` +
        `(BLAS ${info().blasCore} against the kernel's own products, tiling included); own products in tiles / fused = ` +
        `${(100 * gemmsTiled.minCpuMs / fused.minCpuMs).toFixed(1)}% (the rest: row pass and input checks)\n`);
    }
    if (unfused) {
      process.stdout.write(`peak extra memory, fused / unfused: ${(fused.peakExtraBytes / unfused.peakExtraBytes).toFixed(3)} ` +
        `(${mib(fused.peakExtraBytes)} vs ${mib(unfused.peakExtraBytes)}; target <= 0.1); fused / unfused time: ${(fused.minMs / unfused.minMs).toFixed(2)}\n`);
    }
    process.stdout.write(`\n1-minute load average: ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after ` +
      "(other processes on a shared machine slow every variant's wall time; CPU time is less affected).\n");
    process.stdout.write("peak extra RSS includes the outputs (logp, dHidden: 4 T (d + 1) bytes) and, for the GEMMs, the logits array.\n" +
      "It is only meaningful for buffers above ~32 MiB (glibc serves smaller ones from memory it kept from earlier calls);\n" +
      "the kernel's own scratch count is exact at every size.\n");
  },
};
