// A run's configuration as one table, the way TRL's GRPOConfig declares its fields: every setting of
// the SPOGW loop is one row with its type, default (the paper's where it gives one), check, help text
// and command-line spelling. `RunConfig`, `DEFAULT_CONFIG`, `RESUMABLE_FIELDS`, the checks and the CLI
// flags (src/cli/utils/runFlags.ts) are derived from the table, so a new setting is one new row.
// Settings come in layers, later winning: defaults < a preset < a stored run's settings < a config file
// < flags (resolveConfig takes the layers after the preset in order; the preset is the `preset` field
// any of them names). Error messages name the field and say what is allowed.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { benchmarkNames } from "../benchmarks/index.js";
import { DEFAULT_MAX_COMBINATIONS } from "../dataset/index.js";
import { LORA_TARGETS } from "../train/index.js";
import { PRESET_NAMES, PRESETS, presetLayer, type PresetName } from "./presets.js";

/** Says what is wrong with a value (null when it is fine). */
type Check = (value: unknown) => string | null;

/** How a field is written on the command line (yargs' option type). */
export type FlagType = "number" | "string" | "boolean" | "array";

/** What values a field takes: its check and its command-line type. `T` is the field's TypeScript type. */
interface ValueKind<T> {
  readonly check: Check;
  readonly flagType: FlagType;
  /** Carries T only (never set). */
  readonly type?: T;
}

/** One row of the table. */
export interface ConfigField<T = unknown> extends ValueKind<T> {
  /** The value when no layer gives one; absent for a required field. */
  readonly default?: T;
  /** For a required field (no default): what to give, said when it is missing. */
  readonly required?: string;
  /** The one-line help of its flag (`--help` appends the default). */
  readonly help: string;
  /** Short flag names besides the kebab-case of the field name. */
  readonly alias?: readonly string[];
  /**
   * May change when a run is resumed: it does not change what the run computes (the data directory may
   * move: the queries themselves are checked to be the same).
   */
  readonly resumable?: boolean;
}

const wholeNumber = (min: number): ValueKind<number> => ({
  flagType: "number",
  check: (v) => (typeof v === "number" && Number.isInteger(v) && v >= min ? null : `must be a whole number >= ${min}`),
});
const number = (min: number, max = Infinity, minExclusive = false): ValueKind<number> => ({
  flagType: "number",
  check: (v) =>
    typeof v === "number" && Number.isFinite(v) && (minExclusive ? v > min : v >= min) && v <= max
      ? null
      : `must be a number ${minExclusive ? ">" : ">="} ${min}${max < Infinity ? ` and <= ${max}` : ""}`,
});
const oneOf = <const O extends readonly string[]>(...options: O): ValueKind<O[number]> => ({
  flagType: "string",
  check: (v) => (typeof v === "string" && options.includes(v) ? null : `must be one of ${options.map((o) => `"${o}"`).join(", ")}`),
});
const text: ValueKind<string> = { flagType: "string", check: (v) => (typeof v === "string" && v.length > 0 ? null : "must be a non-empty string") };
const boolean: ValueKind<boolean> = { flagType: "boolean", check: (v) => (typeof v === "boolean" ? null : "must be true or false") };
const httpUrl: ValueKind<string> = { flagType: "string", check: (v) => (typeof v === "string" && /^https?:\/\/\S+$/.test(v) ? null : "must be an http(s) URL") };
const seed: ValueKind<number> = {
  flagType: "number",
  check: (v) => (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 31 ? null : "must be a whole number from 0 to 2^31 - 1"),
};
const loraTargets: ValueKind<string[]> = {
  flagType: "array",
  check: (v) =>
    Array.isArray(v) && v.length > 0 && v.every((t) => (LORA_TARGETS as readonly unknown[]).includes(t)) ? null : `must be a non-empty list of ${LORA_TARGETS.join(", ")}`,
};
const nullable = <T>(kind: ValueKind<T>): ValueKind<T | null> => ({ flagType: kind.flagType, check: (v) => (v === null ? null : kind.check(v)) });

type FieldSpec<T> = Omit<ConfigField<T>, keyof ValueKind<T> | "required">;

/** A field with a default (its type comes from the kind alone: inferred from the default too, a choice would widen to string). */
const field = <T>(kind: ValueKind<T>, spec: FieldSpec<NoInfer<T>> & { default: NoInfer<T> }): ConfigField<T> & { readonly default: T } => ({ ...kind, ...spec });
/** A field every run must give (`required` says what, when it is missing). */
const required = <T>(kind: ValueKind<T>, spec: Omit<FieldSpec<T>, "default"> & { required: string }): ConfigField<T> & { readonly required: string } => ({ ...kind, ...spec });

export const RUN_CONFIG_FIELDS = {
  // ---- what to train on
  /** Task family the queries come from: a benchmark name or "simulated" (the offline demo's family). */
  task: required(text, {
    required: "a task: a benchmark name or \"simulated\"",
    help: `benchmark name (${benchmarkNames.join(", ")}) or "simulated"`,
    alias: ["benchmark"],
  }),
  /** Unused for "simulated". */
  dataDir: field(nullable(text), { default: null, help: "directory with the benchmark files (<name>_validate.jsonl is the training split)", resumable: true }),
  /** null = all. */
  limit: field(nullable(wholeNumber(1)), { default: null, help: "use only the first K training queries" }),
  /** Only for task "simulated". */
  simulatedQueries: field(wholeNumber(1), { default: 8, help: "queries of the simulated family" }),
  /** As a real executor would take; only for task "simulated". */
  simulatedLatencyMs: field(wholeNumber(0), { default: 0, help: "latency of one simulated execution (ms)" }),
  generator: required(text, { required: "a GGUF model file", help: "generator GGUF model (base of every adapter)" }),
  /** Benchmark tasks only. */
  executorUrl: field(nullable(httpUrl), { default: null, help: "OpenAI-compatible executor base URL (e.g. http://127.0.0.1:8080/v1)", alias: ["executor"], resumable: true }),
  executorModel: field(text, { default: "executor", help: "model name sent to the executor" }),
  /**
   * Sampling on a serving engine (vLLM, `serve`) instead of in-process; training stays here (docs/scale.md).
   * The server's tokenization of a probe text is checked against the GGUF's at the start of every collect.
   */
  generatorUrl: field(nullable(httpUrl), {
    default: null,
    help: "OpenAI-compatible base URL of a server that samples the generator (vLLM, spogw-native serve); --generator must be its model (key: $SPOGW_GENERATOR_KEY)",
    resumable: true,
  }),
  /** null: the one base model the server lists. */
  generatorModel: field(nullable(text), { default: null, help: "the base model's id on the generator server (default: the one it lists)", resumable: true }),
  /** The server loads each adapter's PEFT directory (adapters/iter-K-peft) from here. */
  generatorRunDir: field(nullable(text), {
    default: null,
    help: "this run directory as the generator server sees it (a shared mount); default: the same absolute path",
    resumable: true,
  }),
  generatorConcurrency: field(wholeNumber(1), { default: 8, help: "requests in flight to the generator server (each samples m workflows of one query)", resumable: true }),
  generatorTimeoutMs: field(wholeNumber(1), { default: 600_000, help: "per request to the generator server (ms)", resumable: true }),
  /** Exponential backoff from 0.5 s, each wait at most 20 s (the executor's rules). */
  generatorRetries: field(wholeNumber(0), { default: 8, help: "retries of a failed generator request (429, 5xx, timeouts, network errors)", resumable: true }),

  // ---- the loop
  /** Each iteration is collect -> dataset -> update, producing the next adapter. */
  iterations: field(wholeNumber(1), { default: 3, help: "SPOGW iterations (paper: 3)", resumable: true }),
  /** One of the paper's ablations (presets.ts): its settings lie under the stored run, the file and the flags. */
  preset: field(nullable(oneOf(...PRESET_NAMES)), {
    default: null,
    help: `fill the settings of a paper ablation: ${PRESET_NAMES.map((name) => `${name} (${PRESETS[name].table})`).join(", ")}; explicit settings override it`,
  }),
  seed: field(seed, { default: 0, help: "seed of sampling, grouping, batch order, LoRA init" }),

  // ---- collect (paper section 3.1)
  samplesPerQuery: field(wholeNumber(2), { default: 16, help: "m: workflows per query and iteration (paper: 16)", alias: ["m"] }),
  scoreRuns: field(wholeNumber(1), { default: 3, help: "executions per workflow; score = their mean (paper: 3)" }),
  /** An invalid workflow is regenerated until valid or this many tries (then it scores 0). */
  maxAttempts: field(wholeNumber(1), { default: 3, help: "generation attempts per workflow slot before it counts as invalid" }),
  temperature: field(number(0, 10, true), { default: 1, help: "generator sampling temperature (also the update's)" }),
  /** In (0, 1]. */
  topP: field(number(0, 1, true), { default: 1, help: "nucleus sampling threshold (1 = off)" }),
  maxTokens: field(wholeNumber(1), { default: 512, help: "most tokens per generated workflow" }),
  executionConcurrency: field(wholeNumber(1), { default: 4, help: "workflow executions in flight", resumable: true }),
  generatorThreads: field(wholeNumber(1), { default: 1, help: "node-llama-cpp threads", resumable: true }),
  generatorSequences: field(wholeNumber(1), { default: 8, help: "sequences sampled in parallel" }),
  /**
   * Bit for bit on CPUs with AVX-512 or AVX2. false: llama.cpp's defaults, an F16 cache; leaner for long
   * contexts, and the sampler's probabilities then differ from the engine's by the cache's rounding.
   */
  /** The sampler's probabilities then differ from the engine's; each iteration stores which arithmetic sampled it. */
  generatorGpu: field(oneOf("auto", "off"), {
    default: "auto",
    help: "sample with node-llama-cpp's CUDA build, all layers on the GPU, where an NVIDIA driver is loaded (\"auto\"), or its CPU build (\"off\")",
    resumable: true,
  }),
  exactSampling: field(boolean, {
    default: true,
    help: "F32 KV cache, no flash attention: the sampler's probabilities are the training engine's, bit for bit (--no-exact-sampling: llama.cpp defaults)",
  }),

  // ---- dataset (paper section 3.1)
  groupSize: field(wholeNumber(2), { default: 14, help: "n: responses per group before sharpening (paper: 14)", alias: ["n"] }),
  keep: field(wholeNumber(0), { default: 4, help: "t: keep the t lowest and t highest of a group, 2t < n; 0 = no sharpening (paper: 4)", alias: ["t"] }),
  topN: field(wholeNumber(1), { default: 100, help: "N: groups kept by screening (paper: 100)" }),
  /** Enumerated lazily (memory stays at about N groups per query), so C(16, 8) = 12870 is exact. */
  maxCombinations: field(wholeNumber(1), { default: DEFAULT_MAX_COMBINATIONS, help: "per query: all C(m,n) groups up to this many, else a seeded sample" }),
  /** Scores within SCORE_TOLERANCE (1e-9) of each other are equal (src/dataset/scores.ts). */
  dropZeroVariance: field(boolean, { default: true, help: "filtering: drop groups whose scores are all equal" }),
  /** Beyond the paper: its literal reading keeps every combination, and many sharpen to the same group. */
  distinctGroups: field(boolean, { default: false, help: "keep a sharpened group only once (another combination sharpening to the same members is dropped)" }),
  maxGroupsPerQuery: field(nullable(wholeNumber(1)), { default: null, help: "at most K of the N groups from any one query (default: no limit)" }),
  /** "random" is the paper's Table 4 ablation. */
  selection: field(oneOf("variance", "random"), { default: "variance", help: "\"variance\" (screening) or \"random\" (random sampling ablation)" }),
  /**
   * Beyond the paper (FlowReasoner and MaAS reward cheaper workflows): each execution's training reward
   * is score - costWeight * executorTokens / 1000. The raw score stays stored and reported.
   */
  costWeight: field(number(0), { default: 0, help: "training reward = score - L * executor tokens / 1000 per execution (0 = the paper's reward, the score)" }),

  // ---- update (paper sections 3.2, 3.3)
  /** E is not given in the paper; 1 keeps the ratio near 1 as in offline GRPO. */
  epochs: field(wholeNumber(1), { default: 1, help: "E: passes over the groups per update" }),
  /** The loss weight of a response is 1 / (groups in step * group size * its tokens). */
  groupsPerStep: field(wholeNumber(1), { default: 4, help: "groups per optimizer step" }),
  /** Not given in the paper; a common LoRA value. */
  learningRate: field(number(0, 1, true), { default: 2e-5, help: "AdamW learning rate of the LoRA parameters" }),
  /** Decoupled. */
  weightDecay: field(number(0, 1), { default: 0, help: "AdamW weight decay" }),
  adamBeta1: field(number(0, 1), { default: 0.9, help: "AdamW beta1" }),
  adamBeta2: field(number(0, 1), { default: 0.999, help: "AdamW beta2" }),
  maxGradNorm: field(number(0), { default: 1, help: "clip the global gradient norm (0 = off)" }),
  /** The ratio is clipped to [1 - epsilon, 1 + epsilonHigh]. */
  epsilon: field(number(0, 1, true), { default: 0.2, help: "PPO clip range" }),
  epsilonHigh: field(nullable(number(0, 10, true)), { default: null, help: "upper clip range (default: epsilon)" }),
  beta: field(number(0), { default: 0.1, help: "KL coefficient (paper: 0.1; 0 = no KL term)" }),
  /** "advantage" is the paper's; "all" applies plain KL to every response. */
  klMask: field(oneOf("advantage", "all"), { default: "advantage", help: "\"advantage\" (mKL: KL on A > 0 only) or \"all\"" }),
  /** "previous" = the checkpoint that sampled the data (the paper's). */
  reference: field(oneOf("previous", "base"), { default: "previous", help: "KL reference: \"previous\" checkpoint (paper) or \"base\" model" }),
  loraRank: field(wholeNumber(1), { default: 8, help: "LoRA rank" }),
  /** The update is scaled by alpha / r. */
  loraAlpha: field(number(0, Infinity, true), { default: 16, help: "LoRA alpha" }),
  /** GGUF names of the projections adapted in every layer. */
  loraTargets: field(loraTargets, { default: [...LORA_TARGETS], help: `LoRA target projections (${LORA_TARGETS.join(" ")})` }),
  engineThreads: field(wholeNumber(1), { default: 2, help: "training engine CPU threads", resumable: true }),
  /** Where the training engine computes; "auto" = CUDA when this binary has CUDA code and sees a device. */
  engineDevice: field(oneOf("auto", "cpu", "cuda"), {
    default: "auto",
    help: "training engine device: \"auto\" (CUDA when usable, else CPU), \"cpu\" or \"cuda\" (an error without a usable device)",
    resumable: true,
  }),
} satisfies Record<string, ConfigField>;

type Fields = typeof RUN_CONFIG_FIELDS;
type FieldValue<F> = F extends ConfigField<infer T> ? T : never;

/** Every setting of a run (see RUN_CONFIG_FIELDS for each one's default, check and help). */
export type RunConfig = { -readonly [K in keyof Fields]: FieldValue<Fields[K]> };

/** The fields every run must give (the others have defaults). */
type RequiredField = { [K in keyof Fields]: Fields[K] extends { default: unknown } ? never : K }[keyof Fields];

export const CONFIG_FIELDS = Object.keys(RUN_CONFIG_FIELDS) as Array<keyof RunConfig>;

const fieldOf = (name: keyof RunConfig): ConfigField => RUN_CONFIG_FIELDS[name] as ConfigField;

/** The paper's settings where it states them (m=16, n=14, t=4, N=100, beta=0.1, 3 iterations, 3 score runs). */
export const DEFAULT_CONFIG = Object.fromEntries(
  CONFIG_FIELDS.filter((name) => "default" in fieldOf(name)).map((name) => [name, fieldOf(name).default]),
) as Omit<RunConfig, RequiredField>;

/**
 * Fields that may change when a run is resumed: they do not change what the run computes. The generator
 * may not: a different base model would silently invalidate every stored log-prob and adapter.
 */
export const RESUMABLE_FIELDS: ReadonlySet<keyof RunConfig> = new Set(CONFIG_FIELDS.filter((name) => fieldOf(name).resumable));

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Defaults under the layers (later wins), with a problem named for each unknown, missing or bad field. */
function mergeLayers(layers: ReadonlyArray<Record<string, unknown>>, problems: string[]): Record<string, unknown> {
  // A fresh copy of every default, so no caller can change the table's arrays.
  const merged: Record<string, unknown> = structuredClone(DEFAULT_CONFIG);
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!(key in RUN_CONFIG_FIELDS)) problems.push(`unknown field "${key}" (known: ${CONFIG_FIELDS.join(", ")})`);
      else merged[key] = value;
    }
  }
  for (const name of CONFIG_FIELDS) {
    const spec = fieldOf(name);
    if (!(name in merged)) {
      problems.push(`${name}: missing (${spec.required})`);
      continue;
    }
    const problem = spec.check(merged[name]);
    if (problem) problems.push(`${name}: ${problem}, got ${JSON.stringify(merged[name])}`);
  }
  return merged;
}

/** What a run needs beyond each field being valid on its own. */
function relationProblems(c: RunConfig): string[] {
  const problems: string[] = [];
  if (c.groupSize > c.samplesPerQuery) problems.push(`groupSize (n = ${c.groupSize}) must be at most samplesPerQuery (m = ${c.samplesPerQuery})`);
  if (c.keep > 0 && 2 * c.keep >= c.groupSize) problems.push(`keep (t = ${c.keep}) must satisfy 2t < groupSize (n = ${c.groupSize}); 0 turns sharpening off`);
  if (c.task !== "simulated" && c.dataDir === null) problems.push(`dataDir: missing (the directory with ${c.task}_validate.jsonl)`);
  if (c.task !== "simulated" && c.executorUrl === null) problems.push("executorUrl: missing (an OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1)");
  return problems;
}

/**
 * Merges defaults, the preset the layers name (the last one naming it wins) and the layers in order
 * (later wins: a stored run's settings, a config file, flags), then checks every field and the relations
 * between them. Throws ConfigError naming each bad field.
 */
export function resolveConfig(...layers: Array<Record<string, unknown>>): RunConfig {
  const problems: string[] = [];
  const preset = layers.findLast((layer) => layer.preset !== undefined)?.preset;
  // An unknown name is reported by the field's check.
  const presetSettings: Record<string, unknown> = typeof preset === "string" && (PRESET_NAMES as readonly string[]).includes(preset) ? { ...presetLayer(preset as PresetName) } : {};
  const merged = mergeLayers([presetSettings, ...layers], problems);
  if (problems.length === 0) problems.push(...relationProblems(merged as RunConfig));
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return merged as RunConfig;
}

/**
 * A stored run's settings (the JSON its store holds) over the defaults: a field added after the run was
 * stored has its default. Each field is checked; `source` names the run in errors.
 */
export function parseStoredConfig(json: string, source: string): RunConfig {
  let stored: unknown;
  try {
    stored = JSON.parse(json);
  } catch {
    throw new ConfigError(`${source}: the stored configuration is not valid JSON`);
  }
  if (stored === null || typeof stored !== "object" || Array.isArray(stored)) throw new ConfigError(`${source}: the stored configuration is not a mapping of field: value`);
  const problems: string[] = [];
  const merged = mergeLayers([stored as Record<string, unknown>], problems);
  if (problems.length > 0) throw new ConfigError(`${source}: the stored configuration is invalid:\n  ${problems.join("\n  ")}`);
  return merged as RunConfig;
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
