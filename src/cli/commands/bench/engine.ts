// `spogw-native bench engine`: the training engine on a random model with Qwen2.5-0.5B's widths.
// Forward+backward tokens/s with LoRA on all seven projections beside PyTorch running the same shapes,
// threads and LoRA; forward tokens/s beside llama.cpp's prompt processing of the same GGUF file.
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
import type { TinyModelDtype } from "../../../gguf/index.js";
import { Engine } from "../../../train/index.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable, timeAsync } from "../../utils/timing.js";
import { QWEN25_05B_SHAPE, writeBenchModel } from "../../../gguf/index.js";

interface EngineBenchOptions {
  layers: number;
  tokens: number;
  hidden: number;
  heads: number;
  "kv-heads": number;
  ff: number;
  vocab: number;
  rank: number;
  dtype: TinyModelDtype;
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

export const benchEngineCommand: CommandModule<object, EngineBenchOptions> = {
  command: "engine",
  describe: "Engine forward/backward tokens/s (LoRA on all projections) beside PyTorch and llama.cpp, Qwen2.5-0.5B widths",
  builder: (y) =>
    y
      .option("layers", { type: "number", default: 4, describe: "transformer layers (Qwen2.5-0.5B has 24)" })
      .option("tokens", { type: "number", default: 512, describe: "sequence length T" })
      .option("hidden", { type: "number", default: QWEN25_05B_SHAPE.hidden })
      .option("heads", { type: "number", default: QWEN25_05B_SHAPE.heads })
      .option("kv-heads", { type: "number", default: QWEN25_05B_SHAPE.kvHeads })
      .option("ff", { type: "number", default: QWEN25_05B_SHAPE.ff })
      .option("vocab", { type: "number", default: QWEN25_05B_SHAPE.vocab })
      .option("rank", { type: "number", default: 8, describe: "LoRA rank (alpha = 2 x rank), on all seven projections" })
      .option("dtype", { choices: ["f32", "f16", "bf16", "q8_0"] as const, default: "f32" as TinyModelDtype,
        describe: "weight type of the GGUF file ours and llama.cpp read (the PyTorch peer always runs float32)" })
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

      const engine = await Engine.load(modelPath, { device: o.device as "cpu" | "cuda" });
      let ours: { fwdLast: number; fwdAll: number; fwdBwd: number };
      try {
        engine.initLora({ rank: o.rank, alpha: 2 * o.rank, init: "random", seed: 1 });
        process.stderr.write("timing the engine ...\n");
        // The loss a default run trains with (the paper's settings).
        const settings = lossSettingsOf(DEFAULT_CONFIG);
        const fwdLast = await timeAsync(() => engine.tokenLogprobs(tokens, o.tokens - 1, settings.temperature), o.runs);
        const fwdAll = await timeAsync(() => engine.tokenLogprobs(tokens, 1, settings.temperature), o.runs);
        const own = await engine.tokenLogprobs(tokens, 1, settings.temperature);
        const item = { tokens, responseStart: 1, advantage: 1, weight: 1 / (o.tokens - 1), oldLogp: own, refLogp: own };
        const fwdBwd = await timeAsync(() => engine.backward([item], settings), o.runs);
        ours = { fwdLast: fwdLast.medianMs / 1000, fwdAll: fwdAll.medianMs / 1000, fwdBwd: fwdBwd.medianMs / 1000 };
      } finally {
        engine.dispose();
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
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
