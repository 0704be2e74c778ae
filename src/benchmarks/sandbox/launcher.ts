// The sandbox launcher (native/src/launcher/sandbox_launch.c, built beside the native addon): the first
// process of every sandboxed program. It joins the program's cgroups, mounts its private tmpfs work dir,
// closes every inherited descriptor above the ones the protocol uses and drops to the unprivileged uid,
// then execs the sandbox command. Node's spawn can do none of that between fork and exec.
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../packageInfo.js";

export const launcherName = "spogw-sandbox-launch";

/** Where a build puts the launcher: cmake-js, node-gyp, then the prebuilt folder for this platform. */
export function launcherCandidates(): string[] {
  const root = packageRoot();
  return [
    join(root, "native", "build", "Release", launcherName),
    join(root, "build", "Release", launcherName),
    join(root, "prebuilds", `${process.platform}-${process.arch}`, launcherName),
  ];
}

/** The first launcher that exists and is executable, or null (the sandbox then states what is missing). */
export function findLauncher(): string | null {
  for (const path of launcherCandidates()) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not built there
    }
  }
  return null;
}
