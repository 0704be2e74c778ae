// How a sandboxed Python program is isolated from the host, and the command line that does it.
//
// Three mechanisms, strongest first; start-up picks the first that actually works on this machine:
//   bubblewrap  user, network, PID, IPC and UTS namespaces; a read-only root that shows only /usr (and the
//               /bin, /lib... links into it), a size-limited tmpfs as working directory, nothing else of
//               the host: no home directory, no project files, no /tmp.
//   unshare     user, network and PID namespaces (util-linux); the program sees the host file system with
//               the rights of the uid it runs as.
//   none        plain child process in its own process group; only rlimits and the deadline contain it.
// In every mechanism prlimit(1) sets the rlimits before python3 starts, the environment is rebuilt from
// nothing, and, when this process is root, the program runs as an unprivileged uid: root ignores
// RLIMIT_NPROC and could raise its own hard limits, so rlimits mean nothing for a root program.
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { PythonLimits } from "./limits.js";

export type IsolationMechanism = "bubblewrap" | "unshare" | "none";

/** Paths of one program's files on the host. */
export interface ProgramPaths {
  /** The program's source file (read-only inside the sandbox). */
  scriptFile: string;
  /** Host working directory (used as the working directory when bubblewrap is not available). */
  workDir: string;
}

/** What a spawn needs: the executable, its arguments, and the uid/gid to drop to (undefined: keep ours). */
export interface SandboxCommand {
  file: string;
  args: string[];
  cwd: string;
  uid: number | undefined;
  gid: number | undefined;
  env: Record<string, string>;
}

/** Where the program's files appear inside a bubblewrap sandbox. */
export const sandboxScriptPath = "/sandbox/main.py";
export const sandboxWorkDir = "/sandbox/work";
/** A small tmpfs for POSIX shared memory (multiprocessing needs /dev/shm), so it cannot fill the RAM. */
const devShmBytes = 16 * 2 ** 20;

export interface IsolationSettings {
  mechanism: IsolationMechanism;
  python: string;
  bwrapPath: string;
  unsharePath: string;
  prlimitPath: string;
  /** Uid and gid the program runs as when this process is root; undefined keeps the current ones. */
  dropToUid: number | undefined;
  dropToGid: number | undefined;
}

/** prlimit(1) arguments that apply `limits` and then exec python3 on `script`. */
function limitedPython(settings: IsolationSettings, limits: PythonLimits, script: string): string[] {
  return [
    settings.prlimitPath,
    `--cpu=${limits.cpuSeconds}`,
    `--as=${limits.memoryBytes}`,
    `--nproc=${limits.maxProcesses}`,
    `--fsize=${limits.maxFileBytes}`,
    `--nofile=${limits.maxOpenFiles}`,
    "--core=0",
    "--",
    settings.python,
    // -I: isolated mode (ignores PYTHON* variables and the user's site-packages, no script dir on sys.path);
    // -B: writes no .pyc files.
    "-I",
    "-B",
    script,
  ];
}

/** The environment the program sees: nothing inherited from this process, so no secret can leak through it. */
function cleanEnvironment(home: string): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: home, TMPDIR: home, LANG: "C.UTF-8", PYTHONIOENCODING: "utf-8" };
}

/**
 * bubblewrap arguments for the root directories that hold the interpreter and its libraries. On merged-/usr
 * systems /bin, /lib, /lib64 and /sbin are links into /usr; they are recreated as links, never bound.
 */
function systemDirectoryArgs(python: string): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const dir of ["/bin", "/lib", "/lib64", "/lib32", "/sbin"]) {
    if (!existsSync(dir)) continue;
    if (lstatSync(dir).isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir);
    else args.push("--ro-bind", dir, dir);
  }
  // An interpreter outside /usr (e.g. a custom build in /opt) needs its own prefix, read-only.
  if (!python.startsWith("/usr/")) {
    const prefix = dirname(dirname(python));
    args.push("--ro-bind", prefix, prefix);
  }
  return args;
}

/** The full command for one program under the chosen mechanism. */
export function sandboxCommand(settings: IsolationSettings, limits: PythonLimits, paths: ProgramPaths): SandboxCommand {
  const drop = { uid: settings.dropToUid, gid: settings.dropToGid };
  switch (settings.mechanism) {
    case "bubblewrap": {
      const args = [
        "--unshare-user",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent", // the sandbox dies with the bwrap process we kill on the deadline
        "--new-session", // no access to our terminal (TIOCSTI)
        ...systemDirectoryArgs(settings.python),
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", String(devShmBytes), "--tmpfs", "/dev/shm",
        "--ro-bind", paths.scriptFile, sandboxScriptPath,
        "--size", String(limits.workDirBytes), "--tmpfs", sandboxWorkDir,
        "--symlink", sandboxWorkDir, "/tmp",
        "--chdir", sandboxWorkDir,
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--",
        ...limitedPython(settings, limits, sandboxScriptPath),
      ];
      return { file: settings.bwrapPath, args, cwd: paths.workDir, env: cleanEnvironment(sandboxWorkDir), ...drop };
    }
    case "unshare": {
      // --fork makes the program PID 1 of a new PID namespace: when it exits, the kernel kills every process
      // it left behind. --kill-child kills it if unshare itself is killed (our deadline).
      const args = [
        "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
        "--",
        ...limitedPython(settings, limits, paths.scriptFile),
      ];
      return { file: settings.unsharePath, args, cwd: paths.workDir, env: cleanEnvironment(paths.workDir), ...drop };
    }
    case "none": {
      const [file, ...args] = limitedPython(settings, limits, paths.scriptFile);
      return { file: file as string, args, cwd: paths.workDir, env: cleanEnvironment(paths.workDir), ...drop };
    }
  }
}

/** Human-readable list of the protections a mechanism gives, for the start-up statement. */
export function describeIsolation(settings: IsolationSettings): { active: string[]; missing: string[] } {
  const active = [
    "fresh python3 process per program in isolated mode (-I)",
    "empty environment (PATH, HOME, TMPDIR, LANG only)",
    "rlimits via prlimit: CPU time, address space, processes, file size, open files, no core dumps",
    "wall-clock deadline that kills the whole sandbox",
    "output size cap",
  ];
  const missing: string[] = [];
  if (settings.dropToUid !== undefined) active.push(`runs as unprivileged uid ${settings.dropToUid} (we are root)`);
  else if (process.getuid?.() === 0) missing.push("uid drop: running as root, so RLIMIT_NPROC is not enforced");
  switch (settings.mechanism) {
    case "bubblewrap":
      active.push(
        "bubblewrap: user, network, PID, IPC, UTS namespaces",
        "file system: read-only /usr only, no home or project files, private size-limited tmpfs work dir",
      );
      break;
    case "unshare":
      active.push("unshare: user, network and PID namespaces");
      missing.push("file system isolation (bubblewrap unavailable): the host file system is visible with the program's uid rights");
      break;
    case "none":
      missing.push(
        "namespaces (neither bubblewrap nor unshare works here): network reachable, host file system visible",
        "PID namespace: a child that leaves the process group can outlive the program",
        "per-sandbox process count: RLIMIT_NPROC counts every process of the uid, across programs",
      );
      break;
  }
  if (settings.mechanism !== "bubblewrap") missing.push("work-dir size limit (only per-file RLIMIT_FSIZE)");
  return { active, missing };
}
