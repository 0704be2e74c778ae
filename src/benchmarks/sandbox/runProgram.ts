// Runs one Python program under a sandbox command: private temporary directory, deadline, output cap,
// and a classification of how it ended.
import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sandboxCommand, type IsolationSettings } from "./isolation.js";
import type { PythonLimits } from "./limits.js";

/**
 * How a program ended:
 *   ok            exit status 0
 *   error         non-zero exit (an uncaught exception: see `errorType`) or killed by a signal it caused
 *   timeout       wall-clock deadline or CPU-time limit reached
 *   memory-limit  the address-space limit was hit (MemoryError)
 *   output-limit  it wrote more than `maxOutputBytes` to stdout or stderr and was killed
 */
export type PythonRunStatus = "ok" | "error" | "timeout" | "memory-limit" | "output-limit";

export interface PythonRunResult {
  status: PythonRunStatus;
  /** Exit status of the sandbox process, or null when it ended by a signal. */
  exitCode: number | null;
  /** Signal that ended the sandbox process (e.g. "SIGKILL" when we killed it), or null. */
  signal: string | null;
  /** Name of the uncaught Python exception (last traceback line), e.g. "AssertionError"; null if none. */
  errorType: string | null;
  /** Captured output, each cut at `maxOutputBytes`. */
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  wallMs: number;
}

const SIGXCPU = 24;
const SIGKILL = 9;
/** How long to wait for the output pipes to drain after the process exited. */
const drainGraceMs = 500;

/** The last "Name: message" line of a Python traceback names the exception. */
export function uncaughtExceptionType(stderr: string): string | null {
  if (!stderr.includes("Traceback (most recent call last)")) return null;
  const lines = stderr.trimEnd().split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /^([A-Za-z_][\w.]*)(?::|$)/.exec(lines[i] ?? "");
    if (match) return match[1]?.split(".").pop() ?? null;
  }
  return null;
}

/** Creates the per-program directory: the script (read-only for the program) and a writable work dir. */
async function preparePrivateDirectory(code: string, settings: IsolationSettings): Promise<{ root: string; scriptFile: string; workDir: string }> {
  const root = await mkdtemp(join(tmpdir(), "spogw-py-"));
  const scriptFile = join(root, "main.py");
  const workDir = join(root, "work");
  await writeFile(scriptFile, code, { mode: 0o644 });
  await mkdir(workDir, { mode: 0o700 });
  // The program runs as another uid when we are root: it must reach its script and own its work dir.
  await chmod(root, 0o755);
  if (settings.dropToUid !== undefined) await chown(workDir, settings.dropToUid, settings.dropToGid ?? settings.dropToUid);
  return { root, scriptFile, workDir };
}

/** Runs `code` once under `settings` and `limits`; never throws for anything the program does. */
export async function runProgram(code: string, settings: IsolationSettings, limits: PythonLimits): Promise<PythonRunResult> {
  const dir = await preparePrivateDirectory(code, settings);
  try {
    return await spawnAndWatch(sandboxCommand(settings, limits, dir), limits);
  } finally {
    await rm(dir.root, { recursive: true, force: true });
  }
}

function spawnAndWatch(command: ReturnType<typeof sandboxCommand>, limits: PythonLimits): Promise<PythonRunResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      uid: command.uid,
      gid: command.gid,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // own process group, so the deadline can kill everything the program started
    });
    const output = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const outputBytes = { stdout: 0, stderr: 0 };
    let killedFor: "timeout" | "output-limit" | null = null;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let spawnError: Error | null = null;
    let settled = false;

    const killProcessGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const killGroup = (reason: "timeout" | "output-limit") => {
      killedFor ??= reason;
      killProcessGroup();
    };
    const deadline = setTimeout(() => killGroup("timeout"), limits.timeoutMs);

    for (const stream of ["stdout", "stderr"] as const) {
      child[stream].on("data", (chunk: Buffer) => {
        const room = limits.maxOutputBytes - outputBytes[stream];
        if (room > 0) output[stream].push(chunk.subarray(0, room));
        outputBytes[stream] += chunk.length;
        if (outputBytes[stream] > limits.maxOutputBytes) killGroup("output-limit");
      });
    }

    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      // A process that escaped the group may still hold the pipes open; we stop listening to it.
      child.stdout.destroy();
      child.stderr.destroy();
      const stdout = Buffer.concat(output.stdout).toString("utf8");
      const stderr = spawnError ? `could not start the sandbox: ${spawnError.message}` : Buffer.concat(output.stderr).toString("utf8");
      const errorType = uncaughtExceptionType(stderr);
      resolve({
        status: classify(exited, killedFor, errorType, spawnError),
        exitCode: exited?.code ?? null,
        signal: exited?.signal ?? null,
        errorType,
        stdout,
        stderr,
        wallMs: performance.now() - started,
      });
    };
    child.on("error", (error) => {
      spawnError = error;
      finish();
    });
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      // The sandbox is gone; make sure nothing it started in its process group survives it.
      killProcessGroup();
      setTimeout(finish, drainGraceMs).unref();
    });
    child.on("close", finish);
  });
}

function classify(
  exited: { code: number | null; signal: NodeJS.Signals | null } | null,
  killedFor: "timeout" | "output-limit" | null,
  errorType: string | null,
  spawnError: Error | null,
): PythonRunStatus {
  if (spawnError || !exited) return "error";
  if (exited.code === 0 && exited.signal === null) return "ok";
  if (killedFor === "output-limit") return "output-limit";
  if (errorType === "MemoryError") return "memory-limit";
  // The CPU limit ends the program with SIGXCPU (then SIGKILL at the hard limit); a wrapper (bwrap,
  // unshare) reports its child's death by signal N as exit status 128 + N.
  const signalNumber = exited.signal ? signalNumberOf(exited.signal) : exited.code !== null && exited.code > 128 ? exited.code - 128 : null;
  if (signalNumber === SIGXCPU) return "timeout";
  if (killedFor === "timeout" && (signalNumber === SIGKILL || signalNumber === null)) return "timeout";
  return "error";
}

function signalNumberOf(signal: NodeJS.Signals): number | null {
  if (signal === "SIGXCPU") return SIGXCPU;
  if (signal === "SIGKILL") return SIGKILL;
  return null;
}
