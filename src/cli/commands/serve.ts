// `spogw-native serve`: an OpenAI-compatible HTTP server (chat and text completions) on a local GGUF
// model, optionally with a LoRA adapter, adapters loaded at run time from --lora-dir (vLLM's runtime
// LoRA API), an API key and injected faults. Runs until interrupted.
import type { CommandModule } from "yargs";
import { Generator } from "../../generator/generator.js";
import { startOpenAIServer } from "../../server/openaiServer.js";

/** The environment variable `serve` reads its API key from when --api-key is not given (keeps it out of `ps`). */
export const SERVE_API_KEY_ENV = "SPOGW_SERVE_API_KEY";

interface ServeOptions {
  model: string;
  "served-model-name"?: string;
  lora?: string;
  "lora-dir": string[];
  "api-key"?: string;
  "exact-sampling": boolean;
  port: number;
  host: string;
  threads: number;
  sequences: number;
  ctx?: number;
  "max-tokens": number;
  "error-rate": number;
  "hang-rate": number;
  "latency-ms": number;
  "fault-seed": number;
}

export const serveCommand: CommandModule<object, ServeOptions> = {
  command: "serve",
  describe: "Serve a GGUF model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions; vLLM's generator dialect and runtime LoRA API), with optional fault injection",
  builder: (y) =>
    y
      .option("model", { type: "string", demandOption: true, describe: "GGUF model file" })
      .option("served-model-name", { type: "string", describe: "the base model's id in the API (default: the --model path)" })
      .option("lora", { type: "string", describe: "GGUF LoRA adapter to apply to the base model" })
      .option("lora-dir", {
        type: "string", array: true, default: [],
        describe: "directory adapters may be loaded from (POST /v1/load_lora_adapter: GGUF files or PEFT directories); repeatable. Paths resolving outside are refused, symlinks included",
      })
      .option("api-key", { type: "string", describe: `require \`Authorization: Bearer KEY\` on every /v1 route (default: $${SERVE_API_KEY_ENV} when set, which keeps the key out of ps)` })
      .option("exact-sampling", { type: "boolean", default: false, describe: "F32 KV cache, no flash attention: probabilities match the training engine's (more memory per token)" })
      .option("port", { type: "number", default: 8080, describe: "TCP port (0: any free port)" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "address to listen on (keep it local unless --api-key is set)" })
      .option("threads", { type: "number", default: 1, describe: "CPU threads for llama.cpp (at most this machine's cores)" })
      .option("sequences", { type: "number", default: 4, describe: "parallel sequences in the model context" })
      .option("ctx", { type: "number", describe: "tokens per sequence (default: the model's context, at most 4096)" })
      .option("max-tokens", { type: "number", default: 256, describe: "completion length when a request sets no max_tokens" })
      .option("error-rate", { type: "number", default: 0, describe: "share of requests answered with 500/503/429 (fault injection)" })
      .option("hang-rate", { type: "number", default: 0, describe: "share of requests never answered (fault injection)" })
      .option("latency-ms", { type: "number", default: 0, describe: "delay before every answer (fault injection)" })
      .option("fault-seed", { type: "number", default: 0, describe: "seed of the fault decisions" }),
  handler: async (argv) => {
    const apiKey = argv["api-key"] ?? process.env[SERVE_API_KEY_ENV];
    const generator = await Generator.load({
      modelPath: argv.model,
      threads: argv.threads,
      sequences: argv.sequences,
      exactKvCache: argv["exact-sampling"],
      ...(argv.ctx !== undefined ? { contextSize: argv.ctx } : {}),
      ...(argv.lora ? { adapter: { path: argv.lora } } : {}),
    });
    const modelName = argv["served-model-name"] ?? argv.model;
    const server = await startOpenAIServer({
      generator,
      modelName,
      loraDirs: argv["lora-dir"],
      ...(apiKey ? { apiKey } : {}),
      port: argv.port,
      host: argv.host,
      defaultMaxTokens: argv["max-tokens"],
      faults: { errorRate: argv["error-rate"], hangRate: argv["hang-rate"], latencyMs: argv["latency-ms"], seed: argv["fault-seed"] },
    });
    const faults = argv["error-rate"] || argv["hang-rate"] || argv["latency-ms"]
      ? `; faults: ${argv["error-rate"]} errors, ${argv["hang-rate"]} hangs, ${argv["latency-ms"]} ms latency`
      : "";
    const adapters = argv["lora-dir"].length > 0 ? `; adapters from ${argv["lora-dir"].join(", ")}` : "";
    process.stdout.write(`serving ${modelName}${argv.lora ? ` + ${argv.lora}` : ""} at ${server.url}${adapters}${apiKey ? "; API key required" : ""}${faults}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await server.close();
    await generator.dispose();
    const c = server.counters;
    process.stdout.write(
      `served ${c.requests} completion requests: ${c.answered} answered, ${c.injectedErrors} injected errors, ` +
        `${c.injectedHangs} injected hangs, ${c.badRequests} bad requests\n`,
    );
  },
};
