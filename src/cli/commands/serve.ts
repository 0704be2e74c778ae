// `spogw-native serve`: an OpenAI-compatible HTTP server (chat and text completions) on a local GGUF
// model, optionally with a LoRA adapter and injected faults. Runs until interrupted.
import type { CommandModule } from "yargs";
import { Generator } from "../../generator/generator.js";
import { startOpenAIServer } from "../../server/openaiServer.js";

interface ServeOptions {
  model: string;
  lora?: string;
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
  describe: "Serve a GGUF model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions), with optional fault injection",
  builder: (y) =>
    y
      .option("model", { type: "string", demandOption: true, describe: "GGUF model file" })
      .option("lora", { type: "string", describe: "GGUF LoRA adapter to apply" })
      .option("port", { type: "number", default: 8080, describe: "TCP port (0: any free port)" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "address to listen on (no authentication: keep it local)" })
      .option("threads", { type: "number", default: 1, describe: "CPU threads for llama.cpp (at most this machine's cores)" })
      .option("sequences", { type: "number", default: 4, describe: "parallel sequences in the model context" })
      .option("ctx", { type: "number", describe: "tokens per sequence (default: the model's context, at most 4096)" })
      .option("max-tokens", { type: "number", default: 256, describe: "completion length when a request sets no max_tokens" })
      .option("error-rate", { type: "number", default: 0, describe: "share of requests answered with 500/503/429 (fault injection)" })
      .option("hang-rate", { type: "number", default: 0, describe: "share of requests never answered (fault injection)" })
      .option("latency-ms", { type: "number", default: 0, describe: "delay before every answer (fault injection)" })
      .option("fault-seed", { type: "number", default: 0, describe: "seed of the fault decisions" }),
  handler: async (argv) => {
    const generator = await Generator.load({
      modelPath: argv.model,
      threads: argv.threads,
      sequences: argv.sequences,
      ...(argv.ctx !== undefined ? { contextSize: argv.ctx } : {}),
      ...(argv.lora ? { adapter: { path: argv.lora } } : {}),
    });
    const server = await startOpenAIServer({
      generator,
      modelName: argv.model,
      port: argv.port,
      host: argv.host,
      defaultMaxTokens: argv["max-tokens"],
      faults: { errorRate: argv["error-rate"], hangRate: argv["hang-rate"], latencyMs: argv["latency-ms"], seed: argv["fault-seed"] },
    });
    const faults = argv["error-rate"] || argv["hang-rate"] || argv["latency-ms"]
      ? `; faults: ${argv["error-rate"]} errors, ${argv["hang-rate"]} hangs, ${argv["latency-ms"]} ms latency`
      : "";
    process.stdout.write(`serving ${argv.model}${argv.lora ? ` + ${argv.lora}` : ""} at ${server.url}${faults}\n`);
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
