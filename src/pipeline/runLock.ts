// One process works on a run at a time: a second `train` on the same directory would duplicate work
// and trip over the first one's keys. The lock file holds the owner's pid; a lock whose process is
// gone (killed, crashed) is taken over, so a kill never leaves a run locked.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const RUN_LOCK = "run.lock";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

/** Takes the run's lock or throws naming the process that holds it; returns the release function. */
export function lockRun(dir: string): () => void {
  const path = join(dir, RUN_LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new Error(`run ${dir} is in use by process ${owner}${owner === process.pid ? " (this one)" : ""}; wait for it to finish or stop it first`);
      }
      rmSync(path, { force: true }); // left by a process that no longer exists
    }
  }
  throw new Error(`run ${dir}: could not take the lock ${path}`);
}
