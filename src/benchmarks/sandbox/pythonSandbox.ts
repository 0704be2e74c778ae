// The Python sandbox: detects at start-up which isolation this machine allows, says so, and runs programs
// in a pool sized to the machine (one fresh process per program; the pool only bounds how many at once).
import { availableParallelism } from "node:os";
import { findExecutable, findPython } from "./executables.js";
import { describeIsolation, type IsolationMechanism, type IsolationSettings } from "./isolation.js";
import { resolveLimits, type PythonLimits } from "./limits.js";
import { runProgram, type PythonRunResult } from "./runProgram.js";

export interface PythonSandboxOptions {
  /** Interpreter to use; default /usr/bin/python3, else python3 on PATH. */
  python?: string;
  /** Programs run at once; default the number of CPUs this process may use. */
  concurrency?: number;
  /** Isolation to use; "auto" (default) takes the strongest that works here. */
  mechanism?: IsolationMechanism | "auto";
  /** Uid (and gid) programs run as when this process is root; default 65534 (nobody). */
  unprivilegedUid?: number;
  /** Receives the start-up statement of active protections; default: written to stderr. */
  log?: (statement: string) => void;
}

export interface PythonSandbox {
  readonly mechanism: IsolationMechanism;
  readonly python: string;
  readonly concurrency: number;
  /** Which protections are active and which are missing, one per line. */
  readonly statement: string;
  /** Runs one program; resolves with how it ended (never rejects for anything the program does). */
  run(code: string, limits?: Partial<PythonLimits>): Promise<PythonRunResult>;
}

const probeLimits = resolveLimits({ timeoutMs: 10_000 });
const probeMarker = "spogw-sandbox-probe-ok";

/** Limits concurrent work to `size` slots; callers queue in arrival order. */
function createSlots(size: number): <T>(work: () => Promise<T>) => Promise<T> {
  let busy = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (busy >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    else busy++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else busy--;
    }
  };
}

/** Tries each mechanism, strongest first, with a real program; returns the first that runs it. */
async function chooseMechanism(base: Omit<IsolationSettings, "mechanism">, wanted: IsolationMechanism | "auto") {
  const order: IsolationMechanism[] = wanted === "auto" ? ["bubblewrap", "unshare", "none"] : [wanted];
  const refusals: string[] = [];
  for (const mechanism of order) {
    const tool = mechanism === "bubblewrap" ? base.bwrapPath : mechanism === "unshare" ? base.unsharePath : "ok";
    if (!tool) {
      refusals.push(`${mechanism}: not installed`);
      continue;
    }
    const settings: IsolationSettings = { ...base, mechanism };
    const probe = await runProgram(`print(${JSON.stringify(probeMarker)})`, settings, probeLimits);
    if (probe.status === "ok" && probe.stdout.includes(probeMarker)) return { settings, refusals };
    refusals.push(`${mechanism}: refused by this machine (${probe.stderr.trim().split("\n")[0] || `status ${probe.status}`})`);
  }
  throw new Error(`the Python sandbox cannot run ${base.python} at all: ${refusals.join("; ")}`);
}

export async function createPythonSandbox(options: PythonSandboxOptions = {}): Promise<PythonSandbox> {
  const prlimitPath = findExecutable("prlimit");
  if (!prlimitPath) throw new Error("prlimit (Debian package util-linux) is required to apply rlimits to sandboxed Python");
  const python = findPython(options.python);
  const concurrency = options.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`sandbox concurrency must be a positive whole number (got ${concurrency})`);
  const isRoot = process.getuid?.() === 0;
  const unprivilegedUid = options.unprivilegedUid ?? 65534;
  const { settings, refusals } = await chooseMechanism(
    {
      python,
      prlimitPath,
      bwrapPath: findExecutable("bwrap") ?? "",
      unsharePath: findExecutable("unshare") ?? "",
      dropToUid: isRoot ? unprivilegedUid : undefined,
      dropToGid: isRoot ? unprivilegedUid : undefined,
    },
    options.mechanism ?? "auto",
  );
  const { active, missing } = describeIsolation(settings);
  const statement = [
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
    run: (code, limits) => {
      const resolved = resolveLimits(limits); // throws on nonsense limits before anything runs
      return inSlot(() => runProgram(code, settings, resolved));
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
export async function runPython(code: string, limits?: Partial<PythonLimits>): Promise<PythonRunResult> {
  return (await defaultPythonSandbox()).run(code, limits);
}
