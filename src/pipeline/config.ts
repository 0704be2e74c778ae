// A run's configuration: every hyperparameter of the SPOGW loop with its default (the paper's where it
// gives one), read from a YAML/JSON file and command-line flags and checked before any work starts.
// Error messages name the field and say what is allowed.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { LORA_TARGETS } from "../train/index.js";

export interface RunConfig {
  // ---- what to train on
  /** Task family the queries come from: a benchmark name (humaneval, mbpp, math, gsm8k, hotpotqa, drop) or "simulated" (the offline demo's family). */
  task: string;
  /** Directory holding the benchmark files (`*_validate.jsonl` is the training split); unused for "simulated". */
  dataDir: string | null;
  /** Use only the first `limit` training queries (null = all). */
  limit: number | null;
  /** Queries of the simulated family (only for task "simulated"). */
  simulatedQueries: number;
  /** Latency of one simulated execution in milliseconds, as a real executor would take (only for task "simulated"). */
  simulatedLatencyMs: number;
  /** GGUF file of the generator (the base model every adapter is trained on). */
  generator: string;
  /** OpenAI-compatible executor base URL (benchmark tasks), e.g. http://127.0.0.1:8080/v1. */
  executorUrl: string | null;
  /** Model name sent to the executor. */
  executorModel: string;

  // ---- the loop
  /** SPOGW iterations: collect -> dataset -> update, each producing the next adapter (paper: 3). */
  iterations: number;
  /** Seeds sampling, combination sampling, batch order and LoRA initialisation. */
  seed: number;

  // ---- collect (paper section 3.1)
  /** m: workflows sampled per query and iteration (paper: 16). */
  samplesPerQuery: number;
  /** Executions of each workflow; its score is their mean (paper: 3). */
  scoreRuns: number;
  /** Generation attempts per workflow slot: an invalid workflow is regenerated until valid or this many tries (then it scores 0). */
  maxAttempts: number;
  /** Sampling temperature of the generator; the update's log-probs use the same temperature. */
  temperature: number;
  /** Nucleus sampling threshold in (0, 1]; 1 = off. */
  topP: number;
  /** Most tokens per generated workflow. */
  maxTokens: number;
  /** Workflow executions in flight at once. */
  executionConcurrency: number;
  /** Generator threads for node-llama-cpp. */
  generatorThreads: number;
  /** Sequences node-llama-cpp samples in parallel. */
  generatorSequences: number;
  /**
   * node-llama-cpp samples with an F32 KV cache and no flash attention, so that its probabilities are
   * the training engine's, bit for bit on CPUs with AVX-512 or AVX2 (false: llama.cpp's defaults, an
   * F16 cache; leaner for long contexts, and the sampler's probabilities then differ from the
   * engine's by the cache's rounding).
   */
  exactSampling: boolean;

  // ---- dataset (paper section 3.1)
  /** n: responses per group before sharpening (paper: 14). */
  groupSize: number;
  /** t: sharpening keeps the t lowest and t highest of each group; 2t < n; 0 = no sharpening (paper: 4). */
  keep: number;
  /** N: groups kept by screening (paper: 100). */
  topN: number;
  /** Per query: all C(m, n) groups up to this many, else a seeded sample of this many. */
  maxCombinations: number;
  /** Filtering: drop groups whose n scores are all equal. */
  dropZeroVariance: boolean;
  /** "variance": screening by variance (SPOGW); "random": random sampling of groups (paper Table 4 ablation). */
  selection: "variance" | "random";

  // ---- update (paper sections 3.2, 3.3)
  /** E: passes over the iteration's groups (not given in the paper; 1 keeps ratio near 1 as in offline GRPO). */
  epochs: number;
  /** Groups per optimizer step; the loss weight of a response is 1 / (groups in step * group size * its tokens). */
  groupsPerStep: number;
  /** AdamW learning rate for the LoRA parameters (not given in the paper; a common LoRA value). */
  learningRate: number;
  /** AdamW decoupled weight decay. */
  weightDecay: number;
  /** AdamW beta1. */
  adamBeta1: number;
  /** AdamW beta2. */
  adamBeta2: number;
  /** Clip the global gradient norm to this (0 = no clipping). */
  maxGradNorm: number;
  /** PPO clip range epsilon: the ratio is clipped to [1 - epsilon, 1 + epsilonHigh]. */
  epsilon: number;
  /** Upper clip range (null = epsilon). */
  epsilonHigh: number | null;
  /** beta: KL coefficient (paper: 0.1; 0 = no KL term, Table 3's first row). */
  beta: number;
  /** "advantage": KL only on responses with A > 0 (mKL, the paper's); "all": plain KL on every response. */
  klMask: "advantage" | "all";
  /** Reference policy of the KL term: "previous" = the checkpoint that sampled the data (paper), "base" = the base model. */
  reference: "previous" | "base";
  /** LoRA rank r. */
  loraRank: number;
  /** LoRA alpha (the update is scaled by alpha / r). */
  loraAlpha: number;
  /** Projections adapted in every layer (GGUF names). */
  loraTargets: string[];
  /** CPU threads of the training engine. */
  engineThreads: number;
}

/** The paper's settings where it states them (m=16, n=14, t=4, N=100, beta=0.1, 3 iterations, 3 score runs). */
export const DEFAULT_CONFIG: Omit<RunConfig, "task" | "generator"> = {
  dataDir: null,
  limit: null,
  simulatedQueries: 8,
  simulatedLatencyMs: 0,
  executorUrl: null,
  executorModel: "executor",
  iterations: 3,
  seed: 0,
  samplesPerQuery: 16,
  scoreRuns: 3,
  maxAttempts: 3,
  temperature: 1,
  topP: 1,
  maxTokens: 512,
  executionConcurrency: 4,
  generatorThreads: 1,
  generatorSequences: 8,
  exactSampling: true,
  groupSize: 14,
  keep: 4,
  topN: 100,
  maxCombinations: 10_000,
  dropZeroVariance: true,
  selection: "variance",
  epochs: 1,
  groupsPerStep: 4,
  learningRate: 2e-5,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  maxGradNorm: 1,
  epsilon: 0.2,
  epsilonHigh: null,
  beta: 0.1,
  klMask: "advantage",
  reference: "previous",
  loraRank: 8,
  loraAlpha: 16,
  loraTargets: [...LORA_TARGETS],
  engineThreads: 2,
};

/**
 * Fields that may change when a run is resumed: they do not change what the run computes (the data
 * directory may move: the queries themselves are checked to be the same). The generator may not: a
 * different base model would silently invalidate every stored log-prob and adapter.
 */
export const RESUMABLE_FIELDS: ReadonlySet<keyof RunConfig> = new Set<keyof RunConfig>([
  "iterations", "executionConcurrency", "generatorThreads", "engineThreads", "executorUrl", "dataDir",
]);

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type FieldCheck = (value: unknown) => string | null; // null = fine, else what is wrong

const wholeNumber = (min: number): FieldCheck => (v) => (typeof v === "number" && Number.isInteger(v) && v >= min ? null : `must be a whole number >= ${min}`);
const number = (min: number, max = Infinity, minExclusive = false): FieldCheck => (v) =>
  typeof v === "number" && Number.isFinite(v) && (minExclusive ? v > min : v >= min) && v <= max
    ? null
    : `must be a number ${minExclusive ? ">" : ">="} ${min}${max < Infinity ? ` and <= ${max}` : ""}`;
const oneOf = (...options: string[]): FieldCheck => (v) => (typeof v === "string" && options.includes(v) ? null : `must be one of ${options.map((o) => `"${o}"`).join(", ")}`);
const text: FieldCheck = (v) => (typeof v === "string" && v.length > 0 ? null : "must be a non-empty string");
const boolean: FieldCheck = (v) => (typeof v === "boolean" ? null : "must be true or false");
const nullable = (check: FieldCheck): FieldCheck => (v) => (v === null ? null : check(v));

const CHECKS: Record<keyof RunConfig, FieldCheck> = {
  task: text,
  dataDir: nullable(text),
  limit: nullable(wholeNumber(1)),
  simulatedQueries: wholeNumber(1),
  simulatedLatencyMs: wholeNumber(0),
  generator: text,
  executorUrl: nullable((v) => (typeof v === "string" && /^https?:\/\/\S+$/.test(v) ? null : "must be an http(s) URL")),
  executorModel: text,
  iterations: wholeNumber(1),
  seed: (v) => (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 31 ? null : "must be a whole number from 0 to 2^31 - 1"),
  samplesPerQuery: wholeNumber(2),
  scoreRuns: wholeNumber(1),
  maxAttempts: wholeNumber(1),
  temperature: number(0, 10, true),
  topP: number(0, 1, true),
  maxTokens: wholeNumber(1),
  executionConcurrency: wholeNumber(1),
  generatorThreads: wholeNumber(1),
  generatorSequences: wholeNumber(1),
  exactSampling: boolean,
  groupSize: wholeNumber(2),
  keep: wholeNumber(0),
  topN: wholeNumber(1),
  maxCombinations: wholeNumber(1),
  dropZeroVariance: boolean,
  selection: oneOf("variance", "random"),
  epochs: wholeNumber(1),
  groupsPerStep: wholeNumber(1),
  learningRate: number(0, 1, true),
  weightDecay: number(0, 1),
  adamBeta1: number(0, 1),
  adamBeta2: number(0, 1),
  maxGradNorm: number(0),
  epsilon: number(0, 1, true),
  epsilonHigh: nullable(number(0, 10, true)),
  beta: number(0),
  klMask: oneOf("advantage", "all"),
  reference: oneOf("previous", "base"),
  loraRank: wholeNumber(1),
  loraAlpha: number(0, Infinity, true),
  loraTargets: (v) =>
    Array.isArray(v) && v.length > 0 && v.every((t) => (LORA_TARGETS as readonly unknown[]).includes(t))
      ? null
      : `must be a non-empty list of ${LORA_TARGETS.join(", ")}`,
  engineThreads: wholeNumber(1),
};

export const CONFIG_FIELDS = Object.keys(CHECKS) as Array<keyof RunConfig>;

/**
 * Merges defaults, a config file's contents and flags (later wins), then checks every field and the
 * relations between them. Throws ConfigError naming each bad field.
 */
export function resolveConfig(...layers: Array<Record<string, unknown>>): RunConfig {
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG };
  const problems: string[] = [];
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!(key in CHECKS)) problems.push(`unknown field "${key}" (known: ${CONFIG_FIELDS.join(", ")})`);
      else merged[key] = value;
    }
  }
  for (const field of CONFIG_FIELDS) {
    if (!(field in merged)) {
      problems.push(`${field}: missing (${field === "generator" ? "a GGUF model file" : "a task: a benchmark name or \"simulated\""})`);
      continue;
    }
    const problem = CHECKS[field](merged[field]);
    if (problem) problems.push(`${field}: ${problem}, got ${JSON.stringify(merged[field])}`);
  }
  if (problems.length === 0) {
    const c = merged as unknown as RunConfig;
    if (c.groupSize > c.samplesPerQuery) problems.push(`groupSize (n = ${c.groupSize}) must be at most samplesPerQuery (m = ${c.samplesPerQuery})`);
    if (c.keep > 0 && 2 * c.keep >= c.groupSize) problems.push(`keep (t = ${c.keep}) must satisfy 2t < groupSize (n = ${c.groupSize}); 0 turns sharpening off`);
    if (c.task !== "simulated" && c.dataDir === null) problems.push(`dataDir: missing (the directory with ${c.task}_validate.jsonl)`);
    if (c.task !== "simulated" && c.executorUrl === null) problems.push("executorUrl: missing (an OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1)");
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return merged as unknown as RunConfig;
}

/** Reads a YAML or JSON config file (JSON is YAML, so one parser reads both); errors name the file and line. */
export function readConfigFile(path: string): Record<string, unknown> {
  let source: string;
  try {
    source = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(source);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML/JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ConfigError(`config file ${path} must hold a mapping of field: value`);
  return value as Record<string, unknown>;
}

/** Fields whose values differ between a stored run config and a new one, excluding those a resume may change. */
export function conflictingFields(stored: RunConfig, requested: RunConfig): string[] {
  // A field added after the run was stored has its default there.
  const storedValue = (f: keyof RunConfig): unknown => (f in stored ? stored[f] : (DEFAULT_CONFIG as Partial<RunConfig>)[f]);
  return CONFIG_FIELDS.filter((f) => !RESUMABLE_FIELDS.has(f) && JSON.stringify(storedValue(f)) !== JSON.stringify(requested[f])).map(
    (f) => `${f}: the run has ${JSON.stringify(storedValue(f))}, this invocation asks for ${JSON.stringify(requested[f])}`,
  );
}
