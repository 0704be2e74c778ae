// Resource limits for one sandboxed Python program, and their defaults.

/** Limits applied to one program. Every field is optional in calls; missing ones take the defaults. */
export interface PythonLimits {
  /** Wall-clock deadline in milliseconds; past it the whole sandbox (process group / PID namespace) is killed. */
  timeoutMs: number;
  /** CPU seconds (RLIMIT_CPU). Defaults to the wall-clock deadline rounded up, so a busy loop dies either way. */
  cpuSeconds: number;
  /**
   * Memory: address space of each process (RLIMIT_AS; a larger allocation raises MemoryError) and, where a
   * per-program cgroup exists, all the program's processes together (the kernel's OOM killer ends it).
   */
  memoryBytes: number;
  /** Processes and threads (RLIMIT_NPROC); counted per sandbox where a user namespace exists. */
  maxProcesses: number;
  /** Largest file the program may write (RLIMIT_FSIZE). */
  maxFileBytes: number;
  /** Size of the private working directory (a tmpfs under bubblewrap or the launcher; not enforceable otherwise). */
  workDirBytes: number;
  /** Files, directories and links the work dir may hold (the tmpfs inode count, when the launcher mounts it). */
  maxWorkDirFiles: number;
  /** Bytes kept from each of stdout and stderr; more output than this kills the program. */
  maxOutputBytes: number;
  /** Open file descriptors (RLIMIT_NOFILE). */
  maxOpenFiles: number;
}

export const defaultPythonLimits: Readonly<PythonLimits> = Object.freeze({
  timeoutMs: 10_000,
  cpuSeconds: 10,
  memoryBytes: 1024 * 2 ** 20,
  maxProcesses: 32,
  maxFileBytes: 16 * 2 ** 20,
  workDirBytes: 64 * 2 ** 20,
  maxWorkDirFiles: 4096,
  maxOutputBytes: 2 ** 20,
  maxOpenFiles: 256,
});

/** Fills in defaults and rejects nonsense (a limit that is not a positive whole number). */
export function resolveLimits(partial: Partial<PythonLimits> = {}): PythonLimits {
  const timeoutMs = partial.timeoutMs ?? defaultPythonLimits.timeoutMs;
  const limits: PythonLimits = {
    ...defaultPythonLimits,
    cpuSeconds: Math.ceil(timeoutMs / 1000),
    ...stripUndefined(partial),
    timeoutMs,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`Python limit ${name} must be a positive whole number (got ${value})`);
  }
  return limits;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
