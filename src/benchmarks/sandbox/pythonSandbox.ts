// The Python sandbox: detects at start-up which isolation this machine allows, says so, and runs programs
// in a pool sized to the machine (one fresh process per program; the pool only bounds how many at once).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { detectCgroups } from "./cgroups.js";
import { findExecutable, findPython } from "./executables.js";
import { describeIsolation, type IsolationMechanism, type IsolationSettings } from "./isolation.js";
import { findLauncher } from "./launcher.js";
import { defaultPythonLimits, resolveLimits, type PythonLimits } from "./limits.js";
import { cancelledRun, runProgram, type ProgramChannels, type PythonRunResult } from "./runProgram.js";
import { seccompProgramForThisMachine } from "./seccompFilter.js";

export interface PythonSandboxOptions {
  /** Interpreter to use; default /usr/bin/python3, else python3 on PATH. */
  python?: string;
  /** Programs run at once; default the number of CPUs this process may use. */
  concurrency?: number;
  /** Isolation to use; "auto" (default) takes the strongest that works here. */
  mechanism?: IsolationMechanism | "auto";
  /** Uid (and gid) programs run as when this process is root; default 65534 (nobody). */
  unprivilegedUid?: number;
  /** bubblewrap executable; default bwrap from the system directories, then PATH. */
  bubblewrap?: string;
  /** The sandbox launcher (launcher.ts); default the one the native build made; null runs without it. */
  launcher?: string | null;
  /** Receives the start-up statement of active protections; default: written to stderr. */
  log?: (statement: string) => void;
}

export interface PythonSandbox {
  readonly mechanism: IsolationMechanism;
  readonly python: string;
  readonly concurrency: number;
  /** Which protections are active and which are missing, one per line. */
  readonly statement: string;
  /** Problems start-up found with a stronger mechanism than the one chosen (also at the top of the statement). */
  readonly warnings: string[];
  /**
   * Runs one program; resolves with how it ended (never rejects for anything the program does).
   * `channels` adds a private input (descriptor 3), a report channel (descriptor 4) and an abort signal.
   */
  run(code: string, limits?: Partial<PythonLimits>, channels?: ProgramChannels): Promise<PythonRunResult>;
}

const probeLimits = resolveLimits({ timeoutMs: 10_000 });
const probeMarker = "spogw-sandbox-probe-ok";

/**
 * Limits concurrent runs to `size` slots; callers queue in arrival order. A caller whose signal aborts
 * while it waits leaves the queue at once, without running.
 */
function createSlots(size: number): (work: () => Promise<PythonRunResult>, signal?: AbortSignal) => Promise<PythonRunResult> {
  let busy = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else busy--;
  };
  return async (work, signal) => {
    if (busy >= size) {
      const admitted = await new Promise<boolean>((resolve) => {
        const enter = () => {
          signal?.removeEventListener("abort", leave);
          resolve(true);
        };
        const leave = () => {
          const at = waiting.indexOf(enter);
          if (at >= 0) waiting.splice(at, 1);
          resolve(false);
        };
        if (signal?.aborted) return resolve(false);
        waiting.push(enter);
        signal?.addEventListener("abort", leave, { once: true });
      });
      if (!admitted) return cancelledRun();
    } else busy++;
    try {
      return await work();
    } finally {
      release();
    }
  };
}

/**
 * Tries each mechanism, strongest first, with a real program; returns the first that runs it. bubblewrap
 * installed but failing is a warning, not a quiet fallback: the weaker mechanism lacks protections.
 */
async function chooseMechanism(base: Omit<IsolationSettings, "mechanism">, wanted: IsolationMechanism | "auto") {
  const order: IsolationMechanism[] = wanted === "auto" ? ["bubblewrap", "unshare", "none"] : [wanted];
  const refusals: string[] = [];
  const warnings: string[] = [];
  for (const mechanism of order) {
    const tool = mechanism === "bubblewrap" ? base.bwrapPath : mechanism === "unshare" ? base.unsharePath : "ok";
    if (!tool) {
      refusals.push(`${mechanism}: not installed`);
      continue;
    }
    const settings: IsolationSettings = { ...base, mechanism };
    const probe = await runProgram(`print(${JSON.stringify(probeMarker)})`, settings, probeLimits);
    if (probe.status === "ok" && probe.stdout.includes(probeMarker)) return { settings, refusals, warnings };
    const why = probe.stderr.trim().split("\n")[0] || `status ${probe.status}`;
    refusals.push(`${mechanism}: refused by this machine (${why})`);
    if (mechanism === "bubblewrap") {
      warnings.push(`bubblewrap (${base.bwrapPath}) is installed but failed to start a program: ${why}. Programs run with a weaker mechanism: see MISSING below`);
    }
  }
  throw new Error(`the Python sandbox cannot run ${base.python} at all: ${refusals.join("; ")}`);
}

/** Whether the launcher can mount a private tmpfs here (root, or unprivileged user namespaces); why not. */
function privateTmpfsWorks(launcher: string): { ok: boolean; reason: string } {
  const dir = mkdtempSync(join(tmpdir(), "spogw-launch-probe-"));
  try {
    const run = spawnSync(launcher, ["--tmpfs", dir, String(2 ** 20), "16", "--keep-fds", "3", "--", "/bin/true"], { encoding: "utf8", timeout: 10_000 });
    return run.status === 0 ? { ok: true, reason: "" } : { ok: false, reason: (run.stderr || run.error?.message || `exit ${run.status}`).trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function createPythonSandbox(options: PythonSandboxOptions = {}): Promise<PythonSandbox> {
  const prlimitPath = findExecutable("prlimit");
  if (!prlimitPath) throw new Error("prlimit (Debian package util-linux) is required to apply rlimits to sandboxed Python");
  const python = findPython(options.python);
  const concurrency = options.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`sandbox concurrency must be a positive whole number (got ${concurrency})`);
  const isRoot = process.getuid?.() === 0;
  const unprivilegedUid = options.unprivilegedUid ?? 65534;
  const launcher = options.launcher === undefined ? findLauncher() : options.launcher;
  const tmpfs = launcher ? privateTmpfsWorks(launcher) : { ok: false, reason: "" };
  const cgroups = launcher ? detectCgroups() : { ok: false as const, reason: "the launcher that joins them is not built" };
  const { settings, refusals, warnings } = await chooseMechanism(
    {
      python,
      prlimitPath,
      bwrapPath: options.bubblewrap ?? findExecutable("bwrap") ?? "",
      unsharePath: findExecutable("unshare") ?? "",
      dropToUid: isRoot ? unprivilegedUid : undefined,
      dropToGid: isRoot ? unprivilegedUid : undefined,
      launcher,
      privateTmpfs: tmpfs.ok,
      cgroups: cgroups.ok ? cgroups.support : null,
      seccomp: seccompProgramForThisMachine(),
    },
    options.mechanism ?? "auto",
  );
  const { active, missing } = describeIsolation(settings, defaultPythonLimits, {
    cgroups: cgroups.ok ? null : cgroups.reason,
    privateTmpfs: tmpfs.ok || !launcher ? null : tmpfs.reason,
  });
  const statement = [
    ...warnings.map((line) => `WARNING: ${line}`),
    `Python sandbox: ${settings.mechanism} (${python}), ${concurrency} programs at a time`,
    ...active.map((line) => `  active:  ${line}`),
    ...missing.map((line) => `  MISSING: ${line}`),
    ...refusals.map((line) => `  not used: ${line}`),
  ].join("\n");
  (options.log ?? ((text: string) => process.stderr.write(`${text}\n`)))(statement);
  const inSlot = createSlots(concurrency);
  return {
    mechanism: settings.mechanism,
    python,
    concurrency,
    statement,
    warnings,
    run: (code, limits, channels) => {
      const resolved = resolveLimits(limits); // throws on nonsense limits before anything runs
      return inSlot(() => runProgram(code, settings, resolved, channels), channels?.signal);
    },
  };
}

let defaultSandbox: Promise<PythonSandbox> | null = null;

/** The process-wide sandbox, created (and its protections stated) on first use. */
export function defaultPythonSandbox(): Promise<PythonSandbox> {
  defaultSandbox ??= createPythonSandbox().catch((error: unknown) => {
    defaultSandbox = null; // let a later call try again (e.g. after installing bubblewrap)
    throw error;
  });
  return defaultSandbox;
}

/** Runs `code` with `limits` in the process-wide sandbox. */
export async function runPython(code: string, limits?: Partial<PythonLimits>, channels?: ProgramChannels): Promise<PythonRunResult> {
  return (await defaultPythonSandbox()).run(code, limits, channels);
}
