// How a sandboxed Python program is isolated from the host, and the command line that does it.
//
// Three mechanisms, strongest first; start-up picks the first that actually works on this machine:
//   bubblewrap  user, network, PID, IPC and UTS namespaces; a read-only root that shows only /usr (and the
//               /bin, /lib... links into it), a size-limited tmpfs as working directory, nothing else of
//               the host: no home directory, no project files, no /tmp; a seccomp filter.
//   unshare     user, network and PID namespaces (util-linux); the program sees the host file system with
//               the rights of the uid it runs as.
//   none        plain child process in its own process group; only rlimits and the deadline contain it.
// In every mechanism prlimit(1) sets the rlimits before python3 starts, the environment is rebuilt from
// nothing, and, when this process is root, the program runs as an unprivileged uid: root ignores
// RLIMIT_NPROC and could raise its own hard limits, so rlimits mean nothing for a root program.
// Where the launcher is built, it starts every mechanism's command: it puts the program in its own
// cgroups, mounts its private tmpfs (size and inode count), closes inherited descriptors and drops the
// uid before anything of the program runs (launcher.ts).
import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { CgroupSupport } from "./cgroups.js";
import type { PythonLimits } from "./limits.js";

export type IsolationMechanism = "bubblewrap" | "unshare" | "none";

/** Paths of one program's files on the host. */
export interface ProgramPaths {
  /** The program's source file (read-only inside the sandbox). */
  scriptFile: string;
  /** Host working directory (a private tmpfs when the launcher mounts one; else bubblewrap's own tmpfs). */
  workDir: string;
  /** Host directory the launcher mounts bubblewrap's /dev/shm on. */
  shmDir: string;
}

/** The descriptors of one spawn beyond stdin, stdout and stderr. */
export interface DescriptorLayout {
  /** Descriptors 0 .. keepFds-1 survive into the sandbox command; the launcher closes every other. */
  keepFds: number;
  /** Where bubblewrap reads the seccomp filter from (it closes it before the program starts), or null. */
  seccompFd: number | null;
  /** cgroup.procs files the launcher joins. */
  cgroupProcs: string[];
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
const devShmFiles = 256;

export interface IsolationSettings {
  mechanism: IsolationMechanism;
  python: string;
  bwrapPath: string;
  unsharePath: string;
  prlimitPath: string;
  /** Uid and gid the program runs as when this process is root; undefined keeps the current ones. */
  dropToUid: number | undefined;
  dropToGid: number | undefined;
  /** The launcher executable, or null when it is not built (Node then spawns the command itself). */
  launcher: string | null;
  /** The launcher mounts the work dir (and bubblewrap's /dev/shm) as private tmpfs with an inode limit. */
  privateTmpfs: boolean;
  /** Per-program cgroups (total memory, process count), or null where this machine does not allow them. */
  cgroups: CgroupSupport | null;
  /** Compiled seccomp filter bubblewrap installs, or null (no syscall table for this architecture). */
  seccomp: Buffer | null;
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

/** The mechanism's own command: bwrap, unshare or plain prlimit, each ending in python3. */
function mechanismCommand(settings: IsolationSettings, limits: PythonLimits, paths: ProgramPaths, layout: DescriptorLayout): { file: string; args: string[]; home: string } {
  switch (settings.mechanism) {
    case "bubblewrap": {
      // The launcher's tmpfs carry an inode limit that bubblewrap's own --tmpfs cannot set.
      const writable = settings.privateTmpfs
        ? ["--bind", paths.shmDir, "/dev/shm", "--ro-bind", paths.scriptFile, sandboxScriptPath, "--bind", paths.workDir, sandboxWorkDir]
        : ["--size", String(devShmBytes), "--tmpfs", "/dev/shm", "--ro-bind", paths.scriptFile, sandboxScriptPath, "--size", String(limits.workDirBytes), "--tmpfs", sandboxWorkDir];
      const args = [
        "--unshare-user",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent", // the sandbox dies with the bwrap process we kill on the deadline
        "--new-session", // no access to our terminal (TIOCSTI)
        ...(layout.seccompFd === null ? [] : ["--seccomp", String(layout.seccompFd)]),
        ...systemDirectoryArgs(settings.python),
        "--proc", "/proc",
        "--dev", "/dev",
        ...writable,
        "--symlink", sandboxWorkDir, "/tmp",
        "--chdir", sandboxWorkDir,
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--",
        ...limitedPython(settings, limits, sandboxScriptPath),
      ];
      return { file: settings.bwrapPath, args, home: sandboxWorkDir };
    }
    case "unshare": {
      // --fork makes the program PID 1 of a new PID namespace: when it exits, the kernel kills every process
      // it left behind. --kill-child kills it if unshare itself is killed (our deadline).
      const args = [
        "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
        "--",
        ...limitedPython(settings, limits, paths.scriptFile),
      ];
      return { file: settings.unsharePath, args, home: paths.workDir };
    }
    case "none": {
      const [file, ...args] = limitedPython(settings, limits, paths.scriptFile);
      return { file: file as string, args, home: paths.workDir };
    }
  }
}

/** The full command for one program under the chosen mechanism, started by the launcher where it is built. */
export function sandboxCommand(settings: IsolationSettings, limits: PythonLimits, paths: ProgramPaths, layout: DescriptorLayout): SandboxCommand {
  const command = mechanismCommand(settings, limits, paths, layout);
  const env = cleanEnvironment(command.home);
  if (!settings.launcher) {
    return { file: command.file, args: command.args, cwd: paths.workDir, env, uid: settings.dropToUid, gid: settings.dropToGid };
  }
  const args: string[] = [];
  for (const procs of layout.cgroupProcs) args.push("--join-cgroup", procs);
  if (settings.privateTmpfs) {
    args.push("--tmpfs", paths.workDir, String(limits.workDirBytes), String(limits.maxWorkDirFiles));
    if (settings.mechanism === "bubblewrap") args.push("--tmpfs", paths.shmDir, String(devShmBytes), String(devShmFiles));
  }
  args.push("--chdir", paths.workDir);
  if (settings.dropToUid !== undefined) args.push("--uid", String(settings.dropToUid), "--gid", String(settings.dropToGid ?? settings.dropToUid));
  args.push("--keep-fds", String(layout.keepFds), "--", command.file, ...command.args);
  // The launcher starts as us (it needs root for the cgroups and mounts) and drops the uid itself.
  return { file: settings.launcher, args, cwd: paths.workDir, env, uid: undefined, gid: undefined };
}

/** Human-readable list of the protections a mechanism gives, for the start-up statement. */
export function describeIsolation(
  settings: IsolationSettings,
  limits: PythonLimits,
  whyNot: { cgroups: string | null; privateTmpfs: string | null } = { cgroups: null, privateTmpfs: null },
): { active: string[]; missing: string[] } {
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
      if (settings.seccomp) active.push("seccomp filter: no io_uring, keyctl, new namespaces, ptrace, mounts, bpf; sockets of family AF_UNIX only");
      else missing.push(`seccomp filter: no system-call table for ${process.arch}`);
      break;
    case "unshare":
      active.push("unshare: user, network and PID namespaces");
      missing.push(
        "file system isolation (bubblewrap unavailable): the host file system is visible with the program's uid rights",
        "seccomp filter (installed by bubblewrap only)",
      );
      break;
    case "none":
      missing.push(
        "namespaces (neither bubblewrap nor unshare works here): network reachable, host file system visible",
        settings.cgroups
          ? "PID namespace: the program sees, and may signal, other processes of its uid (its own cgroup still ends with it)"
          : "PID namespace: a child that leaves the process group can outlive the program",
        "seccomp filter (installed by bubblewrap only)",
      );
      if (!settings.cgroups) missing.push("per-sandbox process count: RLIMIT_NPROC counts every process of the uid, across programs");
      break;
  }
  if (settings.launcher) active.push("inherited descriptors: every descriptor above the protocol's is closed before the program starts");
  else missing.push("inherited descriptors: the sandbox launcher is not built (npm run build:native), so a descriptor this process inherited reaches the program");
  if (settings.cgroups) {
    active.push(`per-program cgroup (v${settings.cgroups.version}): all its processes together at most ${mib(limits.memoryBytes)} MiB and ${limits.maxProcesses} processes, kernel memory included; every process in it is killed when the program ends`);
  } else {
    missing.push(
      `per-program memory total (no per-program cgroup${whyNot.cgroups ? `: ${whyNot.cgroups}` : ""}): each process is limited to ${mib(limits.memoryBytes)} MiB of address space and the program to ${limits.maxProcesses} processes, so together they may hold up to ${mib(limits.memoryBytes * limits.maxProcesses)} MiB`,
    );
  }
  if (settings.privateTmpfs) active.push(`work dir: a private tmpfs of at most ${mib(limits.workDirBytes)} MiB and ${limits.maxWorkDirFiles} files, gone with the program`);
  else if (settings.mechanism === "bubblewrap") {
    missing.push(`work-dir file count: bubblewrap's tmpfs limits bytes only, so inodes (kernel memory) are unbounded${whyNot.privateTmpfs ? ` (the launcher's private tmpfs failed: ${whyNot.privateTmpfs})` : ""}`);
  }
  else missing.push("work-dir size limit (only per-file RLIMIT_FSIZE)");
  return { active, missing };
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}
