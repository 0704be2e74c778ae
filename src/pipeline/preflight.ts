// Checks made before a run does any work: every file and service it will need is there and usable, so
// a mistake costs seconds, not a half-finished iteration. Each failure says what to fix.
import { checkLlamaCppModel, readGgufHeader } from "../gguf/index.js";
import { ConfigError, type RunConfig } from "./config.js";

export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PreflightError";
  }
}

export function checkGeneratorModel(path: string): void {
  try {
    checkLlamaCppModel(readGgufHeader(path), path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (error as Error).message;
    throw new PreflightError(`generator: cannot use ${path}: ${reason}. Give a readable GGUF model (llama or qwen2), e.g. one written by \`spogw-native tiny-model\``);
  }
}

/** Any HTTP answer from GET {url}/models shows the executor is reachable; a refused or timed-out connection does not. */
export async function checkExecutorReachable(url: string, timeoutMs = 5_000): Promise<void> {
  const target = `${url.replace(/\/+$/, "")}/models`;
  try {
    await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new PreflightError(`executorUrl: the executor at ${url} is unreachable (${reason}). Start one (e.g. \`spogw-native serve --model FILE\`) or fix --executor`);
  }
}

/** Checks the model, and for benchmark tasks the executor; data files are checked when the task loads them. */
export async function preflight(config: RunConfig): Promise<void> {
  checkGeneratorModel(config.generator);
  if (config.task !== "simulated") {
    if (!config.executorUrl) throw new ConfigError("executorUrl: missing");
    await checkExecutorReachable(config.executorUrl);
  }
}
