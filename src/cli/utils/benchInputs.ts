// Inputs the benchmark commands share: seeded random arrays, and the options of a random model with
// Qwen2.5-0.5B's widths (gguf/benchModel.ts).
import type { Argv } from "yargs";
import { QWEN25_05B_SHAPE, TINY_MODEL_DTYPES, type TinyModelDtype } from "../../gguf/index.js";

/** Uniform values in [-scale/2, scale/2) from a seeded linear congruential generator. */
export function randomArray(length: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return out;
}

export interface BenchModelOptions {
  layers: number;
  hidden: number;
  heads: number;
  "kv-heads": number;
  ff: number;
  vocab: number;
  rank: number;
  dtype: TinyModelDtype;
}

/** The random model's shape, LoRA rank and weight type; Qwen2.5-0.5B's widths by default. */
export function withBenchModelOptions<T>(y: Argv<T>, defaults: { layers: number; dtype: TinyModelDtype; dtypeHelp: string }) {
  return y
    .option("layers", { type: "number", default: defaults.layers, describe: "transformer layers (Qwen2.5-0.5B has 24)" })
    .option("hidden", { type: "number", default: QWEN25_05B_SHAPE.hidden })
    .option("heads", { type: "number", default: QWEN25_05B_SHAPE.heads })
    .option("kv-heads", { type: "number", default: QWEN25_05B_SHAPE.kvHeads })
    .option("ff", { type: "number", default: QWEN25_05B_SHAPE.ff })
    .option("vocab", { type: "number", default: QWEN25_05B_SHAPE.vocab })
    .option("rank", { type: "number", default: 8, describe: "LoRA rank (alpha = 2 x rank), on all seven projections" })
    .option("dtype", { choices: TINY_MODEL_DTYPES, default: defaults.dtype, describe: defaults.dtypeHelp });
}
