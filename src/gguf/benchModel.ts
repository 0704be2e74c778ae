// A random model with a real model's widths (for the engine benchmark): the tiny-model writer's layers
// and tokenizer, with the vocabulary padded to `vocab` tokens (padding tokens are plain strings that
// the byte-level tokenizer never produces) and the embedding resized to match.
import { SeededRandom } from "../util/seededRandom.js";
import { buildTinyModel, type TinyModelConfig, type TinyModelDtype } from "./tinyModel.js";
import { gguf } from "./metadata.js";
import { writeGgufFile } from "./writer.js";

export interface BenchModelShape {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  ff: number;
  vocab: number;
}

export const QWEN25_05B_SHAPE: BenchModelShape = { layers: 24, hidden: 896, heads: 14, kvHeads: 2, ff: 4864, vocab: 151936 };

export async function writeBenchModel(path: string, shape: BenchModelShape, seed = 1, dtype: TinyModelDtype = "f32"): Promise<TinyModelConfig> {
  const model = buildTinyModel({
    arch: "qwen2", seed, layers: shape.layers, embd: shape.hidden, heads: shape.heads, kvHeads: shape.kvHeads,
    ff: shape.ff, ctx: 4096, dtype, tied: true,
  });
  const tokens = model.metadata.get("tokenizer.ggml.tokens");
  const types = model.metadata.get("tokenizer.ggml.token_type");
  if (tokens?.type !== "array" || types?.type !== "array") throw new Error("tiny model metadata has no token list");
  const baseTokens = tokens.items as string[];
  if (shape.vocab < baseTokens.length) throw new Error(`--vocab must be at least ${baseTokens.length} (the byte-level base vocabulary)`);
  const padded = [...baseTokens];
  for (let i = baseTokens.length; i < shape.vocab; i++) padded.push(`<|bench_pad_${i}|>`);
  model.metadata.set("tokenizer.ggml.tokens", gguf.strings(padded));
  model.metadata.set("tokenizer.ggml.token_type", gguf.numbers("int32", [...(types.items as number[]), ...new Array<number>(shape.vocab - baseTokens.length).fill(4)]));
  const embd = model.tensors.find((t) => t.name === "token_embd.weight");
  if (!embd) throw new Error("tiny model has no token_embd.weight");
  embd.dims = [shape.hidden, shape.vocab];
  embd.data = new SeededRandom(seed, "bench token_embd").normalArray(shape.hidden * shape.vocab, 0.3);
  await writeGgufFile(path, model);
  return { ...model.config, vocabSize: shape.vocab };
}
