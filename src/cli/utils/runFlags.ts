// Command-line flags for every run configuration field (kebab-case of the field name), a --config
// file, and the conversion back into a config layer. No flag has a yargs default, so a flag overrides
// the file only when it is given; defaults live in one place (DEFAULT_CONFIG).
import type { Argv } from "yargs";
import { CONFIG_FIELDS, DEFAULT_CONFIG, readConfigFile, resolveConfig, type RunConfig } from "../../pipeline/index.js";

const HELP: Record<keyof RunConfig, string> = {
  task: "benchmark name (humaneval, mbpp, math, gsm8k, hotpotqa, drop) or \"simulated\"",
  dataDir: "directory with the benchmark files (<name>_validate.jsonl is the training split)",
  limit: "use only the first K training queries",
  simulatedQueries: "queries of the simulated family",
  simulatedLatencyMs: "latency of one simulated execution (ms)",
  generator: "generator GGUF model (base of every adapter)",
  executorUrl: "OpenAI-compatible executor base URL (e.g. http://127.0.0.1:8080/v1)",
  executorModel: "model name sent to the executor",
  iterations: "SPOGW iterations (paper: 3)",
  seed: "seed of sampling, grouping, batch order, LoRA init",
  samplesPerQuery: "m: workflows per query and iteration (paper: 16)",
  scoreRuns: "executions per workflow; score = their mean (paper: 3)",
  maxAttempts: "generation attempts per workflow slot before it counts as invalid",
  temperature: "generator sampling temperature (also the update's)",
  topP: "nucleus sampling threshold (1 = off)",
  maxTokens: "most tokens per generated workflow",
  executionConcurrency: "workflow executions in flight",
  generatorThreads: "node-llama-cpp threads",
  generatorSequences: "sequences sampled in parallel",
  exactSampling: "F32 KV cache, no flash attention: the sampler's probabilities are the training engine's, bit for bit (--no-exact-sampling: llama.cpp defaults)",
  groupSize: "n: responses per group before sharpening (paper: 14)",
  keep: "t: keep the t lowest and t highest of a group, 2t < n; 0 = no sharpening (paper: 4)",
  topN: "N: groups kept by screening (paper: 100)",
  maxCombinations: "per query: all C(m,n) groups up to this many, else a seeded sample",
  dropZeroVariance: "filtering: drop groups whose scores are all equal",
  selection: "\"variance\" (screening) or \"random\" (random sampling ablation)",
  epochs: "E: passes over the groups per update",
  groupsPerStep: "groups per optimizer step",
  learningRate: "AdamW learning rate of the LoRA parameters",
  weightDecay: "AdamW weight decay",
  adamBeta1: "AdamW beta1",
  adamBeta2: "AdamW beta2",
  maxGradNorm: "clip the global gradient norm (0 = off)",
  epsilon: "PPO clip range",
  epsilonHigh: "upper clip range (default: epsilon)",
  beta: "KL coefficient (paper: 0.1; 0 = no KL term)",
  klMask: "\"advantage\" (mKL: KL on A > 0 only) or \"all\"",
  reference: "KL reference: \"previous\" checkpoint (paper) or \"base\" model",
  loraRank: "LoRA rank",
  loraAlpha: "LoRA alpha",
  loraTargets: "LoRA target projections (attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down)",
  engineThreads: "training engine CPU threads",
};

const ALIASES: Partial<Record<keyof RunConfig, string[]>> = {
  task: ["benchmark"],
  executorUrl: ["executor"],
  samplesPerQuery: ["m"],
  groupSize: ["n"],
  keep: ["t"],
};

const kebab = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function withRunFlags<T>(y: Argv<T>): Argv<T> {
  let out = y.option("config", { type: "string", describe: "YAML or JSON file of run settings (flags override it)" }) as Argv<T>;
  for (const field of CONFIG_FIELDS) {
    const example = (DEFAULT_CONFIG as Record<string, unknown>)[field];
    const type = typeof example === "boolean" ? "boolean" : Array.isArray(example) ? "array" : typeof example === "number" || field === "limit" || field === "epsilonHigh" ? "number" : "string";
    const fallback = example === undefined || example === null ? "" : ` [default: ${Array.isArray(example) ? example.join(" ") : String(example)}]`;
    out = out.option(kebab(field), { type, describe: `${HELP[field]}${fallback}`, group: "Run settings:", ...(ALIASES[field] ? { alias: ALIASES[field] } : {}) }) as Argv<T>;
  }
  return out;
}

/** The config layer the flags give (only fields given on the command line). */
export function flagLayer(argv: Record<string, unknown>): Record<string, unknown> {
  const layer: Record<string, unknown> = {};
  for (const field of CONFIG_FIELDS) if (argv[field] !== undefined) layer[field] = argv[field];
  return layer;
}

/** Defaults < `base` (an existing run's settings) < --config file < flags, checked. */
export function configFromArgv(argv: Record<string, unknown>, base: object = {}): RunConfig {
  const file = typeof argv.config === "string" ? readConfigFile(argv.config) : {};
  return resolveConfig(base as Record<string, unknown>, file, flagLayer(argv));
}
