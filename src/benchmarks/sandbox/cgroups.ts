// One memory + process-count cgroup per sandboxed program, where this machine lets us make them.
// RLIMIT_AS and RLIMIT_NPROC bound each process; only a cgroup bounds the program as a whole (three
// children of 800 MB each all fit under a 1 GiB RLIMIT_AS), and it also counts the kernel memory the
// program makes the kernel hold (tmpfs pages, inodes, pipes, memfds).
//
// Found from /proc/self/cgroup and /proc/self/mountinfo: a program's cgroups are children of the ones
// this process is in (cgroup v1 "memory" and "pids" hierarchies, or the v2 unified one when its
// controllers are delegated to us). `detectCgroups` proves it can create a child and write its limits
// before the sandbox relies on it; where it cannot, it says why and the sandbox states what is missing.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where and how this process can make per-program cgroups. */
export interface CgroupSupport {
  version: 1 | 2;
  /** Parent directories the program cgroups are made in (v2: one directory for both controllers). */
  memoryParent: string;
  pidsParent: string;
}

export type CgroupDetection = { ok: true; support: CgroupSupport } | { ok: false; reason: string };

interface Mount {
  /** Root of the hierarchy as mounted (a container sees a sub-tree). */
  root: string;
  point: string;
  fsType: string;
  superOptions: string[];
}

function readMounts(): Mount[] {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).map((line) => {
    const [before, after = ""] = line.split(" - ");
    const fields = (before ?? "").split(" ");
    const [fsType = "", , superOptions = ""] = after.split(" ");
    return { root: fields[3] ?? "", point: unescapeMountPath(fields[4] ?? ""), fsType, superOptions: superOptions.split(",") };
  });
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The directory of this process's cgroup in `mount`, or null when it lies outside what is mounted. */
function ownDirectory(mount: Mount, cgroupPath: string): string | null {
  if (mount.root !== "/" && cgroupPath !== mount.root && !cgroupPath.startsWith(`${mount.root}/`)) return null;
  const relative = mount.root === "/" ? cgroupPath : cgroupPath.slice(mount.root.length);
  return join(mount.point, relative);
}

function findParents(): { version: 1 | 2; memory: string; pids: string } | string {
  const lines = readFileSync("/proc/self/cgroup", "utf8").split("\n").filter(Boolean).map((line) => {
    const [, controllers = "", ...path] = line.split(":");
    return { controllers: controllers.split(","), path: path.join(":") };
  });
  const mounts = readMounts();
  const v1 = (controller: string): string | null => {
    const entry = lines.find((l) => l.controllers.includes(controller));
    const mount = mounts.find((m) => m.fsType === "cgroup" && m.superOptions.includes(controller));
    return entry && mount ? ownDirectory(mount, entry.path) : null;
  };
  const memory = v1("memory");
  const pids = v1("pids");
  if (memory && pids) return { version: 1, memory, pids };
  const unified = lines.find((l) => l.controllers.length === 1 && l.controllers[0] === "");
  const mount = mounts.find((m) => m.fsType === "cgroup2");
  const dir = unified && mount ? ownDirectory(mount, unified.path) : null;
  if (!dir) return "no cgroup v1 memory and pids hierarchies and no cgroup v2 mount for this process";
  const available = readFileSync(join(dir, "cgroup.controllers"), "utf8").split(/\s+/);
  if (!available.includes("memory") || !available.includes("pids")) return `cgroup v2 at ${dir} has no memory and pids controllers for us`;
  return { version: 2, memory: dir, pids: dir };
}

let sequence = 0;

/** Finds the parents and proves a child can be made and limited there (then removes it). */
export function detectCgroups(): CgroupDetection {
  try {
    const found = findParents();
    if (typeof found === "string") return { ok: false, reason: found };
    const support: CgroupSupport = { version: found.version, memoryParent: found.memory, pidsParent: found.pids };
    if (support.version === 2) {
      // Children get the controllers only when the parent hands them down.
      const control = join(support.memoryParent, "cgroup.subtree_control");
      if (!/\bmemory\b/.test(readFileSync(control, "utf8")) || !/\bpids\b/.test(readFileSync(control, "utf8"))) writeFileSync(control, "+memory +pids");
    }
    removeStale(support);
    const probe = ProgramCgroup.create(support, { memoryBytes: 64 * 2 ** 20, maxProcesses: 8 });
    probe.removeNow();
    return { ok: true, support };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/** Cgroups left by an earlier process that was killed before it could remove them. */
function removeStale(support: CgroupSupport): void {
  for (const parent of new Set([support.memoryParent, support.pidsParent])) {
    for (const name of readdirSync(parent)) {
      const owner = /^spogw-(\d+)-\d+$/.exec(name)?.[1];
      if (owner === undefined || existsSync(`/proc/${owner}`)) continue;
      try {
        rmdirSync(join(parent, name));
      } catch {
        // still has processes or is in use; left for a later start
      }
    }
  }
}

/** The limits a program cgroup applies. */
export interface CgroupLimits {
  /** All the program's processes together, page cache and kernel memory included. */
  memoryBytes: number;
  maxProcesses: number;
}

/** The cgroups of one program run: made before the spawn, joined by the launcher, removed after. */
export class ProgramCgroup {
  private constructor(private readonly support: CgroupSupport, private readonly dirs: string[]) {}

  static create(support: CgroupSupport, limits: CgroupLimits): ProgramCgroup {
    const name = `spogw-${process.pid}-${sequence++}`;
    const memory = join(support.memoryParent, name);
    const pids = join(support.pidsParent, name);
    const dirs = memory === pids ? [memory] : [memory, pids];
    for (const dir of dirs) mkdirSync(dir);
    const group = new ProgramCgroup(support, dirs);
    try {
      if (support.version === 1) {
        writeFileSync(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
        // Swap may not carry the program past its limit either (the file exists when swap accounting is on).
        if (existsSync(join(memory, "memory.memsw.limit_in_bytes"))) writeFileSync(join(memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes));
      } else {
        writeFileSync(join(memory, "memory.max"), String(limits.memoryBytes));
        if (existsSync(join(memory, "memory.swap.max"))) writeFileSync(join(memory, "memory.swap.max"), "0");
      }
      writeFileSync(join(pids, "pids.max"), String(limits.maxProcesses));
    } catch (error) {
      group.removeNow();
      throw error;
    }
    return group;
  }

  /** The cgroup.procs files the launcher writes its pid to. */
  get procsFiles(): string[] {
    return this.dirs.map((dir) => join(dir, "cgroup.procs"));
  }

  /** How many times the kernel's OOM killer ended a process of this program. */
  oomKills(): number {
    const file = this.support.version === 1 ? "memory.oom_control" : "memory.events";
    try {
      return Number(/^oom_kill (\d+)$/m.exec(readFileSync(join(this.dirs[0]!, file), "utf8"))?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  private members(): number[] {
    const pids = new Set<number>();
    for (const file of this.procsFiles) {
      try {
        for (const line of readFileSync(file, "utf8").split("\n")) if (line) pids.add(Number(line));
      } catch {
        // already removed
      }
    }
    return [...pids];
  }

  /** Kills every process still in the program's cgroup (it cannot leave it: it has no view of /sys). */
  killAll(): void {
    for (let round = 0; round < 10; round++) {
      const left = this.members();
      if (left.length === 0) return;
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // exited meanwhile
        }
      }
    }
  }

  /** Kills what is left and removes the cgroups, waiting (bounded) for dying processes to leave. */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      this.killAll();
      if (this.tryRemove()) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Left for removeStale at a later start; the processes in it were killed.
  }

  removeNow(): void {
    this.tryRemove();
  }

  private tryRemove(): boolean {
    let all = true;
    for (const dir of this.dirs) {
      try {
        rmdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") all = false;
      }
    }
    return all;
  }
}
