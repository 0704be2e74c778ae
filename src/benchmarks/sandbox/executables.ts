// Finding the programs the sandbox needs. System directories come before PATH: Debian's /usr/bin/python3
// is preferred over whatever python3 is first on PATH (pyenv shims, virtual environments), because it
// lives under /usr, which the sandbox mounts, and because a user's PATH is not ours to trust.
import { accessSync, constants, realpathSync } from "node:fs";
import { delimiter, join } from "node:path";

const systemDirectories = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute, symlink-resolved path of `name` from the system directories, then PATH; null if absent. */
export function findExecutable(name: string): string | null {
  const pathDirectories = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const dir of [...systemDirectories, ...pathDirectories]) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return realpathSync(candidate);
  }
  return null;
}

/** The interpreter for sandboxed programs: `preferred` if given, else python3 as found above. */
export function findPython(preferred?: string): string {
  if (preferred) {
    if (!isExecutable(preferred)) throw new Error(`Python interpreter ${preferred} is missing or not executable`);
    return realpathSync(preferred);
  }
  const found = findExecutable("python3");
  if (!found) throw new Error("no python3 found in /usr/bin, /bin or PATH; install Debian's python3 package");
  return found;
}
