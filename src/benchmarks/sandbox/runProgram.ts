// Runs one Python program under a sandbox command: private temporary directory, per-program cgroup,
// deadline, output cap, optional private channels, and a classification of how it ended.
import { spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { ProgramCgroup } from "./cgroups.js";
import { sandboxCommand, type DescriptorLayout, type IsolationSettings, type ProgramPaths } from "./isolation.js";
import type { PythonLimits } from "./limits.js";

/**
 * How a program ended:
 *   ok            exit status 0
 *   error         non-zero exit (an uncaught exception: see `errorType`) or killed by a signal it caused
 *   timeout       wall-clock deadline or CPU-time limit reached
 *   memory-limit  the address-space limit was hit (MemoryError) or the program's cgroup ran out of memory
 *   output-limit  it wrote more than `maxOutputBytes` to stdout or stderr and was killed
 *   cancelled     the caller's abort signal ended it (or it never started)
 */
export type PythonRunStatus = "ok" | "error" | "timeout" | "memory-limit" | "output-limit" | "cancelled";

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
  /** What the program wrote to descriptor 4 when `report` was asked for (at most 64 KiB), else null. */
  report: string | null;
  /** Wall time from spawn to exit, in milliseconds. */
  wallMs: number;
}

/** Private channels of one run, beyond stdout and stderr. */
export interface ProgramChannels {
  /** Written to descriptor 3 and closed: what the program reads before anything untrusted runs. */
  input?: string;
  /** Collect what the program writes to descriptor 4 (`PythonRunResult.report`). */
  report?: boolean;
  /** Aborting ends the run and everything it started; a run not yet started never starts. */
  signal?: AbortSignal;
}

/** Descriptor numbers of the channels inside the program. */
export const inputDescriptor = 3;
export const reportDescriptor = 4;
const maxReportBytes = 64 * 1024;

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

export function cancelledRun(): PythonRunResult {
  return { status: "cancelled", exitCode: null, signal: null, errorType: null, stdout: "", stderr: "cancelled before it started", report: null, wallMs: 0 };
}

/** Creates the per-program directory: the script (read-only for the program), the work dir, the /dev/shm dir. */
async function preparePrivateDirectory(code: string, settings: IsolationSettings): Promise<ProgramPaths & { root: string }> {
  const root = await mkdtemp(join(tmpdir(), "spogw-py-"));
  const scriptFile = join(root, "main.py");
  const workDir = join(root, "work");
  const shmDir = join(root, "shm");
  await writeFile(scriptFile, code, { mode: 0o644 });
  await mkdir(workDir, { mode: 0o700 });
  await mkdir(shmDir, { mode: 0o700 });
  // The program runs as another uid when we are root: it must reach its script and own its work dir.
  await chmod(root, 0o755);
  if (settings.dropToUid !== undefined) await chown(workDir, settings.dropToUid, settings.dropToGid ?? settings.dropToUid);
  return { root, scriptFile, workDir, shmDir };
}

/** Runs `code` once under `settings` and `limits`; never throws for anything the program does. */
export async function runProgram(code: string, settings: IsolationSettings, limits: PythonLimits, channels: ProgramChannels = {}): Promise<PythonRunResult> {
  if (channels.signal?.aborted) return cancelledRun();
  const dir = await preparePrivateDirectory(code, settings);
  let cgroup: ProgramCgroup | null = null;
  try {
    if (channels.signal?.aborted) return cancelledRun();
    cgroup = settings.cgroups ? ProgramCgroup.create(settings.cgroups, limits) : null;
    const stdio: Array<"ignore" | "pipe"> = ["ignore", "pipe", "pipe"];
    const withChannels = channels.input !== undefined || channels.report === true;
    if (withChannels) stdio.push("pipe", "pipe"); // inputDescriptor, reportDescriptor
    const seccompFd = settings.mechanism === "bubblewrap" && settings.seccomp ? stdio.push("pipe") - 1 : null;
    const layout: DescriptorLayout = { keepFds: stdio.length, seccompFd, cgroupProcs: cgroup?.procsFiles ?? [] };
    return await spawnAndWatch(sandboxCommand(settings, limits, dir, layout), stdio, limits, {
      input: withChannels ? (channels.input ?? "") : null,
      seccomp: seccompFd === null ? null : { fd: seccompFd, program: settings.seccomp! },
      report: channels.report === true,
      signal: channels.signal,
      cgroup,
    });
  } catch (error) {
    return { ...cancelledRun(), status: "error", stderr: `could not start the sandbox: ${(error as Error).message}` };
  } finally {
    await cgroup?.remove();
    await rm(dir.root, { recursive: true, force: true });
  }
}

interface SpawnExtras {
  input: string | null;
  seccomp: { fd: number; program: Buffer } | null;
  report: boolean;
  signal: AbortSignal | undefined;
  cgroup: ProgramCgroup | null;
}

type KillReason = "timeout" | "output-limit" | "cancelled";

function spawnAndWatch(command: ReturnType<typeof sandboxCommand>, stdio: Array<"ignore" | "pipe">, limits: PythonLimits, extras: SpawnExtras): Promise<PythonRunResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command.file, command.args, {
      cwd: command.cwd,
      env: command.env,
      uid: command.uid,
      gid: command.gid,
      stdio,
      detached: true, // own process group, so the deadline can kill everything the program started
    });
    const output = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const outputBytes = { stdout: 0, stderr: 0 };
    const report: Buffer[] = [];
    let reportBytes = 0;
    let killedFor: KillReason | null = null;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let spawnError: Error | null = null;
    let settled = false;

    const killEverything = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      extras.cgroup?.killAll(); // what left the process group (setsid) is still in the cgroup
    };
    const kill = (reason: KillReason) => {
      killedFor ??= reason;
      killEverything();
    };
    const deadline = setTimeout(() => kill("timeout"), limits.timeoutMs);
    const onAbort = () => kill("cancelled");
    extras.signal?.addEventListener("abort", onAbort, { once: true });
    if (extras.signal?.aborted) onAbort(); // aborted while the directory and cgroup were being made

    for (const stream of ["stdout", "stderr"] as const) {
      child[stream]!.on("data", (chunk: Buffer) => {
        const room = limits.maxOutputBytes - outputBytes[stream];
        if (room > 0) output[stream].push(chunk.subarray(0, room));
        outputBytes[stream] += chunk.length;
        if (outputBytes[stream] > limits.maxOutputBytes) kill("output-limit");
      });
    }
    // Channels into the sandbox: written once and closed. A program that exits without reading them
    // makes the write fail (EPIPE), which is nothing to report.
    const send = (fd: number, data: string | Buffer) => {
      const stream = child.stdio[fd] as Writable | null;
      stream?.on("error", () => {});
      stream?.end(data);
    };
    if (extras.input !== null) send(inputDescriptor, extras.input);
    if (extras.seccomp) send(extras.seccomp.fd, extras.seccomp.program);
    const reportStream = extras.input !== null ? (child.stdio[reportDescriptor] as Readable | null) : null;
    reportStream?.on("error", () => {});
    reportStream?.on("data", (chunk: Buffer) => {
      if (reportBytes < maxReportBytes) report.push(chunk.subarray(0, maxReportBytes - reportBytes));
      reportBytes += chunk.length;
    });

    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      extras.signal?.removeEventListener("abort", onAbort);
      // A process that escaped the group may still hold the pipes open; we stop listening to it.
      for (const stream of child.stdio) stream?.destroy();
      const stdout = Buffer.concat(output.stdout).toString("utf8");
      const stderr = spawnError ? `could not start the sandbox: ${spawnError.message}` : Buffer.concat(output.stderr).toString("utf8");
      const errorType = uncaughtExceptionType(stderr);
      const outOfMemory = (extras.cgroup?.oomKills() ?? 0) > 0;
      resolve({
        status: classify(exited, killedFor, errorType, spawnError, outOfMemory),
        exitCode: exited?.code ?? null,
        signal: exited?.signal ?? null,
        errorType,
        stdout,
        stderr,
        report: extras.report ? Buffer.concat(report).toString("utf8") : null,
        wallMs: performance.now() - started,
      });
    };
    child.on("error", (error) => {
      spawnError = error;
      finish();
    });
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      // The sandbox is gone; make sure nothing it started survives it.
      killEverything();
      setTimeout(finish, drainGraceMs).unref();
    });
    child.on("close", finish);
  });
}

function classify(
  exited: { code: number | null; signal: NodeJS.Signals | null } | null,
  killedFor: KillReason | null,
  errorType: string | null,
  spawnError: Error | null,
  outOfMemory: boolean,
): PythonRunStatus {
  if (killedFor === "cancelled") return "cancelled";
  if (spawnError || !exited) return "error";
  if (exited.code === 0 && exited.signal === null) return "ok";
  if (killedFor === "output-limit") return "output-limit";
  if (errorType === "MemoryError" || outOfMemory) return "memory-limit";
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
