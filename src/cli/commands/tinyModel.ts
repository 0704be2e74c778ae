// `spogw-native tiny-model`: writes a deterministic random llama/qwen2 GGUF for tests and benchmarks.
import type { CommandModule } from "yargs";
import { TINY_MODEL_DEFAULTS, TINY_MODEL_DTYPES, writeTinyModel, type TinyModelArch, type TinyModelDtype } from "../../gguf/index.js";

interface TinyModelCommandOptions {
  arch: TinyModelArch;
  out: string;
  seed: number;
  layers: number;
  embd: number;
  heads: number;
  "kv-heads"?: number;
  ff: number;
  ctx: number;
  dtype: TinyModelDtype;
  tied: boolean;
}

export const tinyModelCommand: CommandModule<object, TinyModelCommandOptions> = {
  command: "tiny-model",
  describe: "Write a small deterministic random GGUF model (byte-level BPE vocab, ChatML template) that llama.cpp loads",
  builder: (y) =>
    y
      .option("arch", { choices: ["llama", "qwen2"] as const, demandOption: true, describe: "architecture (qwen2 adds q/k/v biases)" })
      .option("out", { type: "string", demandOption: true, describe: "GGUF file to write" })
      .option("seed", { type: "number", default: TINY_MODEL_DEFAULTS.seed, describe: "weights depend only on the seed and the shape" })
      .option("layers", { type: "number", default: TINY_MODEL_DEFAULTS.layers, describe: "transformer blocks" })
      .option("embd", { type: "number", default: TINY_MODEL_DEFAULTS.embd, describe: "hidden size" })
      .option("heads", { type: "number", default: TINY_MODEL_DEFAULTS.heads, describe: "attention heads" })
      .option("kv-heads", { type: "number", describe: "key/value heads (fewer than heads = GQA; default: heads)" })
      .option("ff", { type: "number", default: TINY_MODEL_DEFAULTS.ff, describe: "feed-forward (MLP) width" })
      .option("ctx", { type: "number", default: TINY_MODEL_DEFAULTS.ctx, describe: "context length" })
      .option("dtype", { choices: TINY_MODEL_DTYPES, default: TINY_MODEL_DEFAULTS.dtype, describe: "2-D weight type (norms and biases stay f32; q4_k_m mixes Q4_K and Q6_K as llama.cpp does)" })
      .option("tied", { type: "boolean", default: TINY_MODEL_DEFAULTS.tied, describe: "no output.weight: reuse token_embd" }),
  handler: async (argv) => {
    const config = await writeTinyModel(argv.out, {
      arch: argv.arch,
      seed: argv.seed,
      layers: argv.layers,
      embd: argv.embd,
      heads: argv.heads,
      ...(argv["kv-heads"] !== undefined ? { kvHeads: argv["kv-heads"] } : {}),
      ff: argv.ff,
      ctx: argv.ctx,
      dtype: argv.dtype,
      tied: argv.tied,
    });
    process.stdout.write(
      `wrote ${argv.out}: ${config.arch}, ${config.layers} layers, embd ${config.embd}, ${config.heads} heads ` +
        `(${config.kvHeads} kv), ff ${config.ff}, ctx ${config.ctx}, vocab ${config.vocabSize}, ${config.dtype}` +
        `${config.tied ? ", tied embeddings" : ""}, seed ${config.seed}\n`,
    );
  },
};
