// node-llama-cpp's instances of this process: the prebuilt CPU binary, and its prebuilt CUDA binary when
// a generator asks for the GPU (no build, no download at run time); warnings and errors from llama.cpp
// kept so that failures can quote llama.cpp's reason.
import { availableParallelism } from "node:os";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

export interface LlamaLogLine {
  level: string;
  message: string;
}

const KEPT_LOG_LINES = 200;
const logLines: LlamaLogLine[] = [];
let logLineCount = 0;
const logListeners = new Set<(line: LlamaLogLine) => void>();
const llamaPromises = new Map<boolean, Promise<Llama>>();

/** Cores this process may use; thread counts above this oversubscribe the CPU and run 100x slower. */
export function machineCores(): number {
  return availableParallelism();
}

/** Throws unless `threads` is a whole number from 1 to the machine's cores. */
export function checkThreads(threads: number): number {
  const cores = machineCores();
  if (!Number.isInteger(threads) || threads < 1 || threads > cores) {
    throw new Error(`threads must be a whole number from 1 to ${cores} (this machine's cores), got ${threads}`);
  }
  return threads;
}

/** The CPU build (gpu false), or the CUDA build with gpu true. */
export function getLlamaRuntime(gpu = false): Promise<Llama> {
  const cached = llamaPromises.get(gpu);
  if (cached) return cached;
  const promise = getLlama({
    gpu: gpu ? "cuda" : false,
    build: "never",
    // An upper bound for anything that does not get an explicit thread count; contexts set their own.
    maxThreads: machineCores(),
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const line = { level: String(level), message: message.trim() };
      if (!line.message) return;
      logLines.push(line);
      logLineCount++;
      if (logLines.length > KEPT_LOG_LINES) logLines.shift();
      for (const listener of logListeners) listener(line);
    },
  }).catch((error: unknown) => {
    llamaPromises.delete(gpu);
    throw new Error(`node-llama-cpp's prebuilt ${gpu ? "CUDA" : "CPU"} binary did not load (no build is attempted at run time): ${(error as Error).message}`);
  });
  llamaPromises.set(gpu, promise);
  return promise;
}

/** Subscribes to llama.cpp's warnings and errors; returns the unsubscribe function. */
export function onLlamaLog(listener: (line: LlamaLogLine) => void): () => void {
  logListeners.add(listener);
  return () => logListeners.delete(listener);
}

/**
 * Runs `action` and, if it throws, rethrows with the llama.cpp log lines written meanwhile: JS only
 * sees "Failed to load model"; the reason ("key not found", "unknown pre-tokenizer") is in the log.
 */
export async function withLlamaReason<T>(what: string, action: () => Promise<T>): Promise<T> {
  const countBefore = logLineCount;
  try {
    return await action();
  } catch (error) {
    const newLines = Math.min(logLineCount - countBefore, logLines.length);
    const reasons = logLines.slice(logLines.length - newLines).filter((l) => l.level === "error" || l.level === "fatal" || l.level === "warn");
    const reasonText = reasons.length > 0 ? `\nllama.cpp said:\n${reasons.map((l) => `  ${l.message}`).join("\n")}` : "";
    throw new Error(`${what}: ${(error as Error).message}${reasonText}`, { cause: error });
  }
}
