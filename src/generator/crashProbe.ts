// Some files make llama.cpp abort the whole process (GGML_ASSERT) instead of throwing; our reader and
// content checks catch the cases we know of. As a safety net for the rest, a model (with its adapter)
// is first loaded and evaluated once in a child process: an abort there becomes an error here.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { rename, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const PROBE_TIMEOUT_MS = 120_000;
const STDERR_KEPT_BYTES = 4000;

// Runs in the child: load, create a context (with the adapter), evaluate two tokens with their
// next-token distribution. Exit 0 = fine, 3 = a JS error (left to the in-process load to report).
// It must run from a file: node-llama-cpp tests its binary in a process started with our execArgv,
// which breaks under \`node -e\`.
const PROBE_SCRIPT = `
const [moduleUrl, modelPath, adapterPath] = process.argv.slice(2);
const { getLlama, LlamaLogLevel } = await import(moduleUrl);
const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error, logger: () => {} });
try {
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 8, sequences: 1, threads: 1,
    ...(adapterPath ? { lora: { adapters: [{ filePath: adapterPath }] } } : {}) });
  const token = model.tokens.bos ?? 0;
  await context.getSequence().controlledEvaluate([token, [token, { generateNext: { probabilities: true } }]]);
  process.exit(0);
} catch {
  process.exit(3);
}
`;

/** Files (by identity) that already went through the probe without crashing it. */
const probedSafe = new Set<string>();

async function fileIdentity(path: string): Promise<string> {
  const info = await stat(path);
  return `${resolve(path)}:${info.ino}:${info.size}:${info.mtimeMs}`;
}

/** Throws when llama.cpp crashes (or hangs) loading `modelPath` with `adapterPath` in a child process. */
export async function probeInChildProcess(modelPath: string, adapterPath?: string): Promise<void> {
  const key = `${await fileIdentity(modelPath)}|${adapterPath ? await fileIdentity(adapterPath) : ""}`;
  if (probedSafe.has(key)) return;
  const moduleUrl = pathToFileURL(createRequire(import.meta.url).resolve("node-llama-cpp")).href;
  const what = adapterPath ? `model ${modelPath} with adapter ${adapterPath}` : `model ${modelPath}`;
  const outcome = await runProbe(await probeScriptPath(), [moduleUrl, resolve(modelPath), adapterPath ? resolve(adapterPath) : ""]);
  if (outcome.timedOut) throw new Error(`llama.cpp did not finish loading ${what} within ${PROBE_TIMEOUT_MS / 1000} s (checked in a child process)`);
  if (outcome.signal !== null) {
    const reason = outcome.stderr.trim().split("\n").filter((line) => line.trim()).slice(-3).join("\n  ");
    throw new Error(`llama.cpp crashes (${outcome.signal}) on ${what}; it was loaded in a child process so this one survives. llama.cpp said:\n  ${reason}`);
  }
  if (outcome.code !== 0 && outcome.code !== 3) {
    throw new Error(`the llama.cpp probe process failed (exit ${outcome.code}) on ${what}; set crashProbe: false to skip it.\n  ${outcome.stderr.trim().split("\n").slice(-3).join("\n  ")}`);
  }
  probedSafe.add(key);
}

/** The probe script as a file in the temp directory, named by its content so that every version gets its own. */
async function probeScriptPath(): Promise<string> {
  const hash = createHash("sha256").update(PROBE_SCRIPT).digest("hex").slice(0, 16);
  const path = join(tmpdir(), `spogw-llama-probe-${hash}.mjs`);
  const exists = await stat(path).then(() => true, () => false);
  if (!exists) {
    const partial = `${path}.${process.pid}.tmp`;
    await writeFile(partial, PROBE_SCRIPT);
    await rename(partial, path); // atomic: a concurrent process never runs a half-written script
  }
  return path;
}

interface ProbeOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  timedOut: boolean;
}

function runProbe(scriptPath: string, args: string[]): Promise<ProbeOutcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [scriptPath, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let timedOut = false;
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEPT_BYTES);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, PROBE_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start the llama.cpp probe process: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal: timedOut ? null : signal, stderr, timedOut });
    });
  });
}
