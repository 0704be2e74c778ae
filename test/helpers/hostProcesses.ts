// What runs on the host, seen from /proc: how tests check that sandboxed processes are gone.
import { readdirSync, readFileSync } from "node:fs";

/** "pid: command line" of every host process whose command line contains `marker`. */
export function processesWith(marker: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(marker)) found.push(`${entry}: ${cmdline}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}
