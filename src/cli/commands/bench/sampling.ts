// `spogw-native bench sampling`: generation throughput of the generator (node-llama-cpp) for one
// sequence beside N parallel sequences in one context, on a tiny model written for the run (or --model).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { writeTinyModel } from "../../../gguf/index.js";
import { Generator, type Completion } from "../../../generator/index.js";
import { describeMachine } from "../../utils/machine.js";
import { formatTable, timeAsync } from "../../utils/timing.js";

interface SamplingBenchOptions {
  model?: string;
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
      .option("model", { type: "string", describe: "GGUF model to use (default: a tiny qwen2 model written to a temp dir)" })
      .option("parallel", { type: "number", default: 8, describe: "parallel sequences to compare with 1" })
      .option("tokens", { type: "number", default: 64, describe: "most tokens per sequence" })
      .option("threads", { type: "number", default: 1, describe: "CPU threads (1..cores)" })
      .option("runs", { type: "number", default: 5, describe: "timed runs per setting (median reported)" }),
  handler: async (argv) => {
    for (const [name, v] of Object.entries({ parallel: argv.parallel, tokens: argv.tokens, runs: argv.runs })) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive whole number (got ${v})`);
    }
    const tempDir = argv.model ? undefined : await mkdtemp(join(tmpdir(), "spogw-bench-"));
    try {
      const modelPath = argv.model ?? join(tempDir!, "tiny-qwen2.gguf");
      if (tempDir) await writeTinyModel(modelPath, { arch: "qwen2" });
      const generator = await Generator.load({ modelPath, threads: argv.threads, sequences: argv.parallel, contextSize: 64 + argv.tokens });
      try {
        await report(generator, modelPath, argv);
      } finally {
        await generator.dispose();
      }
    } finally {
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    }
  },
};

async function report(generator: Generator, modelPath: string, argv: SamplingBenchOptions): Promise<void> {
  process.stdout.write(`machine: ${describeMachine()}\n`);
  process.stdout.write(`model: ${modelPath} (${generator.architecture}, vocab ${generator.vocabularySize}); ${generator.threads} thread(s); ` +
    `up to ${argv.tokens} tokens per sequence, temperature 1, seed 0\n\n`);
  const rows = [["setting", "sequences", "tokens", "ms (median)", "tokens/s total", "tokens/s per sequence"]];
  let singleRate = NaN;
  for (const sequences of [1, argv.parallel]) {
    let completions: Completion[] = [];
    const timing = await timeAsync(async () => {
      completions = await generator.sample(PROMPT, { m: sequences, maxTokens: argv.tokens, seed: 0 });
    }, argv.runs);
    // Same seed every run, so every run generates the same number of tokens.
    const tokens = completions.reduce((sum, c) => sum + c.tokens.length, 0);
    const rate = tokens / (timing.medianMs / 1000);
    if (sequences === 1) singleRate = rate;
    rows.push([sequences === 1 ? "1 sequence" : `${sequences} parallel`, String(sequences), String(tokens), timing.medianMs.toFixed(1),
      rate.toFixed(0), (rate / sequences).toFixed(0)]);
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  const lastRate = Number(rows[rows.length - 1]![4]);
  process.stdout.write(`\n${argv.parallel} parallel sequences give ${(lastRate / singleRate).toFixed(2)}x the total tokens/s of 1 sequence ` +
    "(each run includes the prompt evaluation; a completion may end early at an end-of-generation token).\n");
}
