// A tiny model behind the local OpenAI-compatible server: the real executor the end-to-end tests call
// over HTTP. By default it has room for the benchmark prompts (about 3000 byte-level tokens for a
// generator prompt: a 4096 context) and answers at most 16 tokens unless asked for more.
import { join } from "node:path";
import { Generator } from "../../src/generator/index.js";
import { writeTinyModel, type TinyModelOptions } from "../../src/gguf/index.js";
import { startOpenAIServer, type RunningServer } from "../../src/server/index.js";

export interface TinyModelServer {
  /** The model file (it stays in the caller's directory after close()). */
  modelPath: string;
  generator: Generator;
  server: RunningServer;
  /** Stops the server, then frees the model. */
  close(): Promise<void>;
}

export interface TinyModelServerOptions {
  model?: Partial<TinyModelOptions>;
  /** Sequences the generator evaluates in parallel (default 2). */
  sequences?: number;
  /** The server's max_tokens when a request gives none (default 16). */
  defaultMaxTokens?: number;
}

/** Writes `dir`/`name`, loads it and serves it as model "tiny". */
export async function startTinyModelServer(dir: string, name = "executor.gguf", options: TinyModelServerOptions = {}): Promise<TinyModelServer> {
  const modelPath = join(dir, name);
  const model: TinyModelOptions = { arch: "qwen2", seed: 3, kvHeads: 2, ctx: 4096, ...options.model };
  await writeTinyModel(modelPath, model);
  const generator = await Generator.load({ modelPath, threads: 1, sequences: options.sequences ?? 2, contextSize: model.ctx });
  try {
    const server = await startOpenAIServer({ generator, modelName: "tiny", defaultMaxTokens: options.defaultMaxTokens ?? 16 });
    return {
      modelPath, generator, server,
      close: async () => {
        await server.close();
        await generator.dispose();
      },
    };
  } catch (error) {
    await generator.dispose();
    throw error;
  }
}
