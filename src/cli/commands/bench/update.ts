// `spogw-native bench update`: what sharing a group's prompt buys the update phase. One backward over a
// group of N responses sharing a P-token prompt beside the same N items with N distinct prompts of the
// same lengths, and the old/ref log-prob pass (tokenLogprobsBatch) likewise: tokens/s over the items'
// N (P + R) tokens, and peak resident-set growth, in interleaved rounds (so that load from other
// processes falls on both alike). The output layer alone (the fused kernels on the N R predictor rows,
// called as the engine calls them: one call per group) is timed beside them: that work is the same
// whether or not the prompt is shared, so it bounds what sharing can gain.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { writeBenchModel } from "../../../gguf/index.js";
import { grpoLoss, selectiveLogprobs } from "../../../loss/index.js";
import { info, setThreads } from "../../../native/index.js";
import { DEFAULT_CONFIG } from "../../../pipeline/config.js";
import { lossSettingsOf } from "../../../pipeline/trainingSettings.js";
import { Engine, type BackwardItem } from "../../../train/index.js";
import { randomArray, withBenchModelOptions, type BenchModelOptions } from "../../utils/benchInputs.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable, measureInterleaved, mib } from "../../utils/timing.js";

interface UpdateBenchOptions extends BenchModelOptions {
  group: number;
  prompt: number;
  response: number;
  runs: number;
  threads: number;
}

/** Deterministic tokens above the tiny vocabulary's special ones; `seed` makes a different sequence. */
function tokenRun(seed: number, length: number, vocab: number): number[] {
  return Array.from({ length }, (_, i) => 256 + ((seed * 104729 + i * 7919) % (vocab - 256)));
}

export const benchUpdateCommand: CommandModule<object, UpdateBenchOptions> = {
  command: "update",
  describe: "Shared-prompt group vs distinct prompts: backward and log-prob pass tokens/s and peak memory, Qwen2.5-0.5B widths",
  builder: (y) =>
    withBenchModelOptions(y, { layers: 8, dtype: "f16", dtypeHelp: "weight type of the model" })
      .option("group", { type: "number", default: 8, describe: "N: responses per group" })
      .option("prompt", { type: "number", default: 600, describe: "P: prompt tokens (the generator prompt is about 600)" })
      .option("response", { type: "number", default: 250, describe: "R: tokens per response" })
      .option("runs", { type: "number", default: 2, describe: "interleaved rounds: each variant runs once per round (best and median reported)" })
      .option("threads", { type: "number", default: availableParallelism(), describe: "engine threads" }),
  handler: async (o) => {
    for (const key of ["group", "prompt", "response", "layers", "hidden", "heads", "kv-heads", "ff", "vocab", "rank", "runs", "threads"] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 1) throw new Error(`--${key} must be a positive whole number (got ${o[key]})`);
    }
    if (o.vocab <= 256) throw new Error("--vocab must be above 256");
    const { group: N, prompt: P, response: R } = o;
    setThreads(o.threads);
    const load = loadavg();
    const work = mkdtempSync(join(tmpdir(), "spogw-bench-update-"));
    try {
      const modelPath = join(work, "bench.gguf");
      process.stderr.write(`writing a random ${o.layers}-layer ${o.dtype} model (d=${o.hidden}, V=${o.vocab}) ...\n`);
      await writeBenchModel(modelPath, { layers: o.layers, hidden: o.hidden, heads: o.heads, kvHeads: o["kv-heads"], ff: o.ff, vocab: o.vocab }, 1, o.dtype);
      const settings = lossSettingsOf(DEFAULT_CONFIG);
      const shared = Array.from({ length: N }, () => tokenRun(0, P, o.vocab));
      const distinct = Array.from({ length: N }, (_, i) => tokenRun(1000 + i, P, o.vocab));
      const itemsOf = (prompts: number[][]) =>
        prompts.map((p, i) => ({ tokens: Int32Array.from([...p, ...tokenRun(1 + i, R, o.vocab)]), responseStart: P }));
      const sharedItems = itemsOf(shared);
      const distinctItems = itemsOf(distinct);

      const engine = await Engine.load(modelPath);
      try {
        engine.initLora({ rank: o.rank, alpha: 2 * o.rank, init: "random", seed: 1 });
        process.stderr.write("log-probs for the backward's old/ref ...\n");
        const withLogp = async (items: typeof sharedItems): Promise<BackwardItem[]> => {
          const lps = await engine.tokenLogprobsBatch(items, settings.temperature);
          return items.map((it, i) => ({ ...it, advantage: i % 2 === 0 ? 1 : -1, weight: 1 / (N * R), oldLogp: lps[i]!, refLogp: lps[i]! }));
        };
        const sharedBatch = await withLogp(sharedItems);
        const distinctBatch = await withLogp(distinctItems);
        // The output layer on its own, as the engine runs it: a shared group's N R predictor rows in one
        // call, distinct prompts' in N calls of R rows (each item is its own group).
        const lmHead = randomArray(o.vocab * o.hidden, 7, 0.2);
        const outputInputs = (rows: number, responses: number) => {
          const oldLogp = new Float32Array(rows).fill(-12);
          return {
            hidden: randomArray(rows * o.hidden, 8, 2), lmHead, targets: Int32Array.from(tokenRun(5, rows, o.vocab)),
            seqStarts: Int32Array.from({ length: responses + 1 }, (_, i) => (i * rows) / responses),
            advantages: Float32Array.from({ length: responses }, (_, i) => (i % 2 === 0 ? 1 : -1)),
            seqWeights: new Float32Array(responses).fill(1 / (N * R)), oldLogp, refLogp: oldLogp, ...settings,
          };
        };
        const groupCall = outputInputs(N * R, N);
        const responseCall = outputInputs(R, 1);
        const perResponse = (fn: () => Promise<unknown>) => async () => {
          for (let i = 0; i < N; i++) await fn();
        };
        const logprobsOf = (x: typeof groupCall) => () => selectiveLogprobs({ hidden: x.hidden, lmHead, targets: x.targets, temperature: settings.temperature });

        process.stderr.write(`timing (${o.runs} interleaved rounds; the log-probs above warmed up threads and buffers) ...\n`);
        const variants = [
          { name: "backward shared", fn: () => engine.backward(sharedBatch, settings) },
          { name: "backward distinct", fn: () => engine.backward(distinctBatch, settings) },
          { name: "logprobs shared", fn: () => engine.tokenLogprobsBatch(sharedItems, settings.temperature) },
          { name: "logprobs distinct", fn: () => engine.tokenLogprobsBatch(distinctItems, settings.temperature) },
          { name: "output loss, one call", fn: () => grpoLoss(groupCall) },
          { name: "output loss, per response", fn: perResponse(() => grpoLoss(responseCall)) },
          { name: "output logprobs, one call", fn: logprobsOf(groupCall) },
          { name: "output logprobs, per response", fn: perResponse(logprobsOf(responseCall)) },
        ];
        const m = await measureInterleaved(variants, o.runs);
        const get = (name: string) => m.get(name)!;
        const itemTokens = N * (P + R);
        const tps = (ms: number) => (itemTokens / (ms / 1000)).toFixed(0);
        const row = (label: string, sharedName: string, distinctName: string, outputName: string) => {
          const s = get(sharedName), d = get(distinctName);
          const one = get(`${outputName}, one call`), each = get(`${outputName}, per response`);
          return [label, tps(s.minMs), tps(d.minMs), `${(d.minMs / s.minMs).toFixed(2)}x`, `${(d.minCpuMs / s.minCpuMs).toFixed(2)}x`,
            mib(s.peakExtraBytes), mib(d.peakExtraBytes),
            `${one.minCpuMs.toFixed(0)} ms (${((100 * one.minCpuMs) / s.minCpuMs).toFixed(0)}%) / ${each.minCpuMs.toFixed(0)} ms (${((100 * each.minCpuMs) / d.minCpuMs).toFixed(0)}%)`];
        };
        process.stdout.write(`machine: ${describeMachine()}; load average at start ${load.map((x) => x.toFixed(2)).join(" ")}\n`);
        process.stdout.write(`engine forward: ${info().engineNumerics}\n`);
        process.stdout.write(`model: random qwen2, ${o.layers} layers, d=${o.hidden}, ${o.heads} heads / ${o["kv-heads"]} KV, ff=${o.ff}, V=${o.vocab}, tied, ` +
          `${o.dtype.toUpperCase()} weights; LoRA r=${o.rank} on all seven projections; ${o.threads} threads\n`);
        process.stdout.write(`batch: N=${N} responses of R=${R} tokens after a P=${P}-token prompt: shared = one prompt (${P + N * R} packed rows), ` +
          `distinct = ${N} prompts (${N * (P + R)} rows); tok/s counts the items' ${itemTokens} tokens; best of ${o.runs} rounds ` +
          "(speed-up by CPU time: the process's user + system time, less sensitive to other processes' load)\n\n");
        process.stdout.write(`${formatTable([
          ["pass", "shared tok/s", "distinct tok/s", "speed-up (wall)", "speed-up (CPU time)", "shared peak RSS+", "distinct peak RSS+",
            "output layer alone, CPU time (share): shared / distinct"],
          row("backward (forward + loss + backward)", "backward shared", "backward distinct", "output loss"),
          row("log-prob pass (tokenLogprobsBatch)", "logprobs shared", "logprobs distinct", "output logprobs"),
        ])}\n`);
        process.stdout.write(`\nrows through the layers: shared/distinct = ${(P + N * R)}/${N * (P + R)} = ${((P + N * R) / (N * (P + R))).toFixed(2)}; ` +
          "the output layer's N R predictor rows are the same in both (shared: one call of N R rows; distinct: N calls of R), " +
          "so sharing does not divide its time.\n");
      } finally {
        engine.dispose();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
