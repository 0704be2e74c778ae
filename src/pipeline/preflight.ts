// Checks made before a run does any work: every file and service it will need is there and usable, so
// a mistake costs seconds, not a half-finished iteration. Each failure says what to fix.
import { BLOCK_QUANT_TYPES, checkLlamaCppModel, readGgufHeader, type GgufHeader } from "../gguf/index.js";
import { ConfigError, type RunConfig } from "./config.js";

export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PreflightError";
  }
}

/** Weight types the training engine reads (native/src/engine/gguf_reader.cc); llama.cpp reads more. */
export const TRAINER_TENSOR_TYPES: ReadonlySet<string> = new Set(["F32", "F16", "BF16", ...BLOCK_QUANT_TYPES]);

/** The first tensor the trainer cannot read, as "name (TYPE)", or null. */
export function unreadableByTrainer(header: Pick<GgufHeader, "tensors">): string | null {
  const tensor = header.tensors.find((t) => !TRAINER_TENSOR_TYPES.has(t.type.name));
  return tensor ? `${tensor.name} (${tensor.type.name})` : null;
}

/** The model must load in node-llama-cpp (sampling) and in the training engine (updates). */
export function checkGeneratorModel(path: string): void {
  let header: GgufHeader;
  try {
    header = readGgufHeader(path);
    checkLlamaCppModel(header, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (error as Error).message;
    throw new PreflightError(`generator: cannot use ${path}: ${reason}. Give a readable GGUF model (llama or qwen2), e.g. one written by \`spogw-native tiny-model\``);
  }
  const unreadable = unreadableByTrainer(header);
  if (unreadable) {
    throw new PreflightError(
      `generator: ${path} has weights the trainer cannot read: ${unreadable}. Convert it to one of ${[...TRAINER_TENSOR_TYPES].join(", ")} (e.g. llama-quantize --allow-requantize MODEL OUT Q4_K_M)`,
    );
  }
}

/** Any HTTP answer from GET {url}/models shows the executor is reachable; a refused or timed-out connection does not. */
export async function checkExecutorReachable(url: string, timeoutMs = 5_000): Promise<void> {
  await checkReachable(url, timeoutMs, (reason) => `executorUrl: the executor at ${url} is unreachable (${reason}). Start one (e.g. \`spogw-native serve --model FILE\`) or fix --executor`);
}

/** The same for the generator server (its model and token ids are checked when the run connects to it). */
export async function checkGeneratorServerReachable(url: string, timeoutMs = 5_000): Promise<void> {
  await checkReachable(url, timeoutMs, (reason) =>
    `generatorUrl: the generator server at ${url} is unreachable (${reason}). Start one (vLLM, or \`spogw-native serve --model FILE --lora-dir RUN_PARENT\`) or fix --generator-url`);
}

async function checkReachable(url: string, timeoutMs: number, message: (reason: string) => string): Promise<void> {
  const target = `${url.replace(/\/+$/, "")}/models`;
  try {
    await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new PreflightError(message(cause?.code ?? cause?.message ?? (error as Error).message));
  }
}

/** Checks the model, the generator server if any, and for benchmark tasks the executor; data files are checked when the task loads them. */
export async function preflight(config: RunConfig): Promise<void> {
  checkGeneratorModel(config.generator);
  if (config.generatorUrl !== null) await checkGeneratorServerReachable(config.generatorUrl);
  if (config.task !== "simulated") {
    if (!config.executorUrl) throw new ConfigError("executorUrl: missing");
    await checkExecutorReachable(config.executorUrl);
  }
}
