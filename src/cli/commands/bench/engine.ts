// `spogw-native bench engine`: the training engine on a random model with Qwen2.5-0.5B's widths.
// Forward+backward tokens/s with LoRA on all seven projections beside PyTorch running the same shapes,
// threads and LoRA; forward tokens/s beside llama.cpp's prompt processing of the same GGUF file. For a
// quantized --dtype also the engine on an F16 file of the same weights, and the weight memory each
// engine holds beside the file's tensor bytes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { Token } from "node-llama-cpp";
import type { CommandModule } from "yargs";
import { getLlamaRuntime } from "../../../generator/index.js";
import { info, setThreads } from "../../../native/index.js";
import { packageRoot } from "../../../packageInfo.js";
import { DEFAULT_CONFIG } from "../../../pipeline/config.js";
import { lossSettingsOf } from "../../../pipeline/trainingSettings.js";
import { readGgufHeader, TINY_MODEL_DTYPES, type TinyModelDtype } from "../../../gguf/index.js";
import { Engine } from "../../../train/index.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable, timeAsync } from "../../utils/timing.js";
import { writeBenchModel } from "../../../gguf/index.js";
import { withBenchModelOptions, type BenchModelOptions } from "../../utils/benchInputs.js";

interface EngineBenchOptions extends BenchModelOptions {
  tokens: number;
  device: "cpu" | "cuda";
  runs: number;
  threads: number;
  torch: boolean;
  llama: boolean;
}

interface PeerResult {
  fwdBwdS?: number;
  fwdS?: number;
  label: string;
  error?: string;
}

function runTorchPeer(o: EngineBenchOptions): PeerResult {
  const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const script = join(packageRoot(), "scripts", "bench", "torch_engine_peer.py");
  const args = [script, "--layers", o.layers, "--tokens", o.tokens, "--hidden", o.hidden, "--heads", o.heads, "--kv-heads", o["kv-heads"],
    "--ff", o.ff, "--vocab", o.vocab, "--rank", o.rank, "--threads", o.threads, "--runs", o.runs].map(String);
  const r = spawnSync(python, args, { encoding: "utf8", maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || "").trim().split("\n").pop() ?? "";
    return { label: "PyTorch", error: `PyTorch peer failed (${why}); install Debian's python3-torch` };
  }
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { torch: string; threads: number; fwd_bwd_s: number; fwd_s: number };
  return { label: `PyTorch ${out.torch} CPU, ${out.threads} threads`, fwdBwdS: out.fwd_bwd_s, fwdS: out.fwd_s };
}

async function runLlamaPeer(modelPath: string, o: EngineBenchOptions, tokens: readonly number[]): Promise<PeerResult> {
  try {
    const llama = await getLlamaRuntime();
    const model = await llama.loadModel({ modelPath });
    try {
      const ctx = await model.createContext({ contextSize: o.tokens + 8, batchSize: o.tokens, threads: o.threads, flashAttention: false });
      try {
        const seq = ctx.getSequence();
        const t = await timeAsync(async () => {
          await seq.clearHistory();
          await seq.evaluateWithoutGeneratingNewTokens(tokens as Token[]);
        }, o.runs);
        return { label: `llama.cpp (node-llama-cpp) prompt processing, ${o.threads} threads`, fwdS: t.medianMs / 1000 };
      } finally {
        await ctx.dispose();
      }
    } finally {
      await model.dispose();
    }
  } catch (e) {
    return { label: "llama.cpp", error: `llama.cpp peer failed: ${(e as Error).message.split("\n")[0]}` };
  }
}

interface EngineTimes {
  fwdLast: number;
  fwdAll: number;
  fwdBwd: number;
  /** Bytes the engine holds for the weights, and the process's resident-set growth while loading. */
  weightBytes: number;
  rssGrowth: number;
  /** The file's weight types, with counts: "12 Q4_K, 3 Q6_K, 5 F32". */
  types: string;
}

async function timeEngine(path: string, tokens: Int32Array, o: EngineBenchOptions): Promise<EngineTimes> {
  const rssBefore = process.memoryUsage().rss;
  const engine = await Engine.load(path, { device: o.device });
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  try {
    const weights = engine.weightInfo();
    const counts = new Map<string, number>();
    for (const w of weights) counts.set(w.type, (counts.get(w.type) ?? 0) + 1);
    engine.initLora({ rank: o.rank, alpha: 2 * o.rank, init: "random", seed: 1 });
    process.stderr.write(`timing the engine on ${path} ...\n`);
    // The loss a default run trains with (the paper's settings).
    const settings = lossSettingsOf(DEFAULT_CONFIG);
    const fwdLast = await timeAsync(() => engine.tokenLogprobs(tokens, o.tokens - 1, settings.temperature), o.runs);
    const fwdAll = await timeAsync(() => engine.tokenLogprobs(tokens, 1, settings.temperature), o.runs);
    const own = await engine.tokenLogprobs(tokens, 1, settings.temperature);
    const item = { tokens, responseStart: 1, advantage: 1, weight: 1 / (o.tokens - 1), oldLogp: own, refLogp: own };
    const fwdBwd = await timeAsync(() => engine.backward([item], settings), o.runs);
    return {
      fwdLast: fwdLast.medianMs / 1000, fwdAll: fwdAll.medianMs / 1000, fwdBwd: fwdBwd.medianMs / 1000,
      weightBytes: weights.reduce((sum, w) => sum + w.bytes, 0), rssGrowth,
      types: [...counts].map(([type, n]) => `${n} ${type}`).join(", "),
    };
  } finally {
    engine.dispose();
  }
}

export const benchEngineCommand: CommandModule<object, EngineBenchOptions> = {
  command: "engine",
  describe: "Engine forward/backward tokens/s (LoRA on all projections) beside PyTorch and llama.cpp, Qwen2.5-0.5B widths",
  builder: (y) =>
    withBenchModelOptions(y, { layers: 4, dtype: "f32", dtypeHelp: "weight type of the GGUF file ours and llama.cpp read (the PyTorch peer always runs float32; q4_k_m mixes types as llama.cpp does)" })
      .option("tokens", { type: "number", default: 512, describe: "sequence length T" })
      .option("runs", { type: "number", default: 3, describe: "timed runs per measurement (median)" })
      .option("threads", { type: "number", default: availableParallelism(), describe: "threads for every contender" })
      .option("torch", { type: "boolean", default: true, describe: "run the PyTorch peer" })
      .option("llama", { type: "boolean", default: true, describe: "run the llama.cpp peer" })
      .option("device", { choices: ["cpu", "cuda"] as const, default: "cpu" as const, describe: "where our engine runs (cuda: an error without a usable device)" }),
  handler: async (o) => {
    for (const key of ["layers", "tokens", "hidden", "heads", "kv-heads", "ff", "vocab", "rank", "runs", "threads"] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 1) throw new Error(`--${key} must be a positive whole number (got ${o[key]})`);
    }
    if (o.tokens < 2) throw new Error("--tokens must be at least 2");
    setThreads(o.threads);
    const work = mkdtempSync(join(tmpdir(), "spogw-bench-engine-"));
    try {
      const modelPath = join(work, "bench.gguf");
      process.stderr.write(`writing a random ${o.layers}-layer ${o.dtype} model (d=${o.hidden}, V=${o.vocab}) ...\n`);
      await writeBenchModel(modelPath, { layers: o.layers, hidden: o.hidden, heads: o.heads, kvHeads: o["kv-heads"], ff: o.ff, vocab: o.vocab }, 1, o.dtype);
      const tokenList = Array.from({ length: o.tokens }, (_, i) => 256 + ((i * 7919) % (o.vocab - 256)));
      const tokens = Int32Array.from(tokenList);

      const ours = await timeEngine(modelPath, tokens, o);
      let f16: EngineTimes | undefined;
      if (o.dtype !== "f16" && o.dtype !== "f32") {
        const f16Path = join(work, "bench-f16.gguf");
        process.stderr.write("writing the same weights as F16 ...\n");
        await writeBenchModel(f16Path, { layers: o.layers, hidden: o.hidden, heads: o.heads, kvHeads: o["kv-heads"], ff: o.ff, vocab: o.vocab }, 1, "f16");
        f16 = await timeEngine(f16Path, tokens, o);
      }
      process.stderr.write(o.torch ? "timing PyTorch ...\n" : "");
      const torch = o.torch ? runTorchPeer(o) : { label: "PyTorch", error: "not run (--no-torch)" };
      process.stderr.write(o.llama ? "timing llama.cpp ...\n" : "");
      const llama = o.llama ? await runLlamaPeer(modelPath, o, tokenList) : { label: "llama.cpp", error: "not run (--no-llama)" };

      const tps = (s: number | undefined) => (s === undefined ? "-" : (o.tokens / s).toFixed(0));
      const ratio = (a: number, b: number | undefined) => (b === undefined ? "-" : `${(b / a).toFixed(2)}x`);
      process.stdout.write(`machine: ${describeMachine()}\n`);
      process.stdout.write(`engine forward: ${info().engineNumerics}\n`);
      process.stdout.write(`model: random qwen2, ${o.layers} layers, d=${o.hidden}, ${o.heads} heads / ${o["kv-heads"]} KV, ff=${o.ff}, V=${o.vocab}, tied, ${o.dtype.toUpperCase()} weights (PyTorch: float32); ` +
        `T=${o.tokens}; LoRA r=${o.rank} on q,k,v,o,gate,up,down; ${o.threads} threads for all\n\n`);
      process.stdout.write(`${formatTable([
        ["measurement", "ours tok/s", "peer tok/s", "ours/peer", "peer"],
        ["forward, last-token logits", tps(ours.fwdLast), tps(llama.fwdS), ratio(ours.fwdLast, llama.fwdS), llama.error ?? llama.label],
        ["forward + log-probs of all tokens", tps(ours.fwdAll), tps(torch.fwdS), ratio(ours.fwdAll, torch.fwdS), torch.error ?? `${torch.label}, no_grad`],
        ["forward + backward into LoRA", tps(ours.fwdBwd), tps(torch.fwdBwdS), ratio(ours.fwdBwd, torch.fwdBwdS), torch.error ?? torch.label],
      ])}\n`);
      process.stdout.write("\nours = spogw-native Engine (CPU). The peer on each row does the same work: llama.cpp computes only the last token's logits " +
        "in prompt processing; PyTorch materialises the full [T, V] logits (our loss kernel never does).\n");
      const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
      const fileBytes = readGgufHeader(modelPath).tensors.reduce((sum, t) => sum + t.byteLength, 0);
      const memory = [["weights", "file tensor MiB", "engine holds MiB", "holds/file", "RSS growth at load MiB"],
        [`${o.dtype.toUpperCase()} (${ours.types})`, mib(fileBytes), mib(ours.weightBytes), (ours.weightBytes / fileBytes).toFixed(3), mib(ours.rssGrowth)]];
      if (f16) {
        process.stdout.write(`\n${formatTable([
          ["measurement", `${o.dtype.toUpperCase()} tok/s`, "F16 tok/s", `${o.dtype.toUpperCase()}/F16`],
          ["forward, last-token logits", tps(ours.fwdLast), tps(f16.fwdLast), ratio(ours.fwdLast, f16.fwdLast)],
          ["forward + log-probs of all tokens", tps(ours.fwdAll), tps(f16.fwdAll), ratio(ours.fwdAll, f16.fwdAll)],
          ["forward + backward into LoRA", tps(ours.fwdBwd), tps(f16.fwdBwd), ratio(ours.fwdBwd, f16.fwdBwd)],
        ])}\n`);
        const f16File = readGgufHeader(join(work, "bench-f16.gguf")).tensors.reduce((sum, t) => sum + t.byteLength, 0);
        memory.push([`F16 (${f16.types})`, mib(f16File), mib(f16.weightBytes), (f16.weightBytes / f16File).toFixed(3), mib(f16.rssGrowth)]);
      }
      process.stdout.write(`\nweight memory: what the engine holds for the weights (Engine.weightInfo) beside the tensor bytes of the file it read\n${formatTable(memory)}\n`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
