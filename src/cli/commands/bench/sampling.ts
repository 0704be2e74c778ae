// `spogw-native bench sampling`: generation throughput of the generator (node-llama-cpp) for one
// sequence beside N parallel sequences in one context, on a tiny model written for the run (or --model);
// with --generator-url, the same samples drawn through a generator server beside (one request of n = 1,
// one of n = N, N requests at once), for the model the server runs (--model).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { writeTinyModel } from "../../../gguf/index.js";
import { Generator, type Completion } from "../../../generator/index.js";
import { GENERATOR_KEY_ENV, RemoteGenerator } from "../../../generator/remoteGenerator.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable, timeAsync } from "../../utils/timing.js";

interface SamplingBenchOptions {
  model?: string;
  "generator-url"?: string;
  "generator-model"?: string;
  "exact-sampling": boolean;
  parallel: number;
  tokens: number;
  threads: number;
  runs: number;
}

const PROMPT = "<|im_start|>user\nWrite a workflow.<|im_end|>\n<|im_start|>assistant\n";

export const benchSamplingCommand: CommandModule<object, SamplingBenchOptions> = {
  command: "sampling",
  describe: "Generator tokens/s: 1 sequence beside N parallel sequences (node-llama-cpp, tiny model by default)",
  builder: (y) =>
    y
      .option("model", { type: "string", describe: "GGUF model to use (default: a tiny qwen2 model written to a temp dir); with --generator-url, the server's model" })
      .option("generator-url", { type: "string", describe: `also sample through this generator server (OpenAI-compatible base URL; key: $${GENERATOR_KEY_ENV})` })
      .option("generator-model", { type: "string", describe: "the base model's id on that server (default: the one it lists)" })
      .option("exact-sampling", { type: "boolean", default: false, describe: "F32 KV cache in this process (as `serve --exact-sampling`), so both sides compute the same numbers" })
      .option("parallel", { type: "number", default: 8, describe: "parallel sequences to compare with 1" })
      .option("tokens", { type: "number", default: 64, describe: "most tokens per sequence" })
      .option("threads", { type: "number", default: 1, describe: "CPU threads (1..cores)" })
      .option("runs", { type: "number", default: 5, describe: "timed runs per setting (median reported)" }),
  handler: async (argv) => {
    for (const [name, v] of Object.entries({ parallel: argv.parallel, tokens: argv.tokens, runs: argv.runs })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive whole number (got ${v})`);
    }
    if (argv["generator-url"] && !argv.model) throw new Error("--generator-url needs --model: the GGUF model the server runs (its tokenizer is checked, and it is sampled in-process beside)");
    const tempDir = argv.model ? undefined : await mkdtemp(join(tmpdir(), "spogw-bench-"));
    try {
      const modelPath = argv.model ?? join(tempDir!, "tiny-qwen2.gguf");
      if (tempDir) await writeTinyModel(modelPath, { arch: "qwen2" });
      const generator = await Generator.load({
        modelPath, threads: argv.threads, sequences: argv.parallel, contextSize: 64 + argv.tokens, exactKvCache: argv["exact-sampling"],
      });
      const apiKey = process.env[GENERATOR_KEY_ENV];
      const remote = argv["generator-url"]
        ? await RemoteGenerator.connect({
          baseURL: argv["generator-url"], modelPath, concurrency: argv.parallel,
          ...(argv["generator-model"] ? { model: argv["generator-model"] } : {}), ...(apiKey ? { apiKey } : {}),
        })
        : undefined;
      try {
        await report(generator, remote, modelPath, argv);
      } finally {
        await remote?.close();
        await generator.dispose();
      }
    } finally {
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    }
  },
};

async function report(generator: Generator, remote: RemoteGenerator | undefined, modelPath: string, argv: SamplingBenchOptions): Promise<void> {
  process.stdout.write(`machine: ${describeMachine()}\n`);
  process.stdout.write(`model: ${modelPath} (${generator.architecture}, vocab ${generator.vocabularySize}); ${generator.threads} thread(s) in this process; ` +
    `${argv["exact-sampling"] ? "F32" : "F16"} KV cache; up to ${argv.tokens} tokens per sequence, temperature 1, seed 0\n`);
  if (remote) process.stdout.write(`generator server: ${remote.baseURL} (model ${remote.baseModel}; its own machine and threads)\n`);
  const rows = [["setting", "sequences", "tokens", "ms (median)", "tokens/s total", "tokens/s per sequence"]];
  const measure = async (setting: string, sequences: number, sample: () => Promise<Completion[]>): Promise<number> => {
    let completions: Completion[] = [];
    const timing = await timeAsync(async () => {
      completions = await sample();
    }, argv.runs);
    // Same seed every run, so every run generates the same number of tokens.
    const tokens = completions.reduce((sum, c) => sum + c.tokens.length, 0);
    const rate = tokens / (timing.medianMs / 1000);
    rows.push([setting, String(sequences), String(tokens), timing.medianMs.toFixed(1), rate.toFixed(0), (rate / sequences).toFixed(0)]);
    return rate;
  };
  const options = (m: number, seed = 0) => ({ m, maxTokens: argv.tokens, seed });
  const n = argv.parallel;
  const singleRate = await measure("1 sequence", 1, () => generator.sample(PROMPT, options(1)));
  const parallelRate = await measure(`${n} parallel`, n, () => generator.sample(PROMPT, options(n)));
  if (remote) {
    const model = remote.baseModel;
    await measure("server, 1 request n=1", 1, () => remote.sample(model, PROMPT, options(1)));
    await measure(`server, 1 request n=${n}`, n, () => remote.sample(model, PROMPT, options(n)));
    await measure(`server, ${n} requests at once`, n, async () => (await Promise.all(Array.from({ length: n }, (_, i) => remote.sample(model, PROMPT, options(1, i))))).flat());
  }
  process.stdout.write(`\n${formatTable(rows)}\n`);
  process.stdout.write(`\n${n} parallel sequences give ${(parallelRate / singleRate).toFixed(2)}x the total tokens/s of 1 sequence ` +
    "(each run includes the prompt evaluation; a completion may end early at an end-of-generation token).\n");
  if (remote) process.stdout.write("Server rows include the HTTP round trip and the server's per-token log-probs; each completion's ids come back from the server.\n");
}
