// Makes sure the CPU prebuild exists for tests that pack or inspect it (CI builds it first with
// `npm run prebuild`; a developer running one test file gets it built here, in about 10 s).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const cpuPrebuild = join(repoRoot, "prebuilds", `${process.platform}-${process.arch}`, "spogw.cpu.node");

export function ensureCpuPrebuild(): string {
  if (!existsSync(cpuPrebuild)) {
    execFileSync(process.execPath, [join(repoRoot, "scripts", "prebuild.mjs"), "--cpu-only"], { cwd: repoRoot, stdio: "inherit" });
  }
  return cpuPrebuild;
}

export const cudaPrebuild = join(repoRoot, "prebuilds", `${process.platform}-${process.arch}`, "spogw.cuda.node");

/** The CUDA prebuild (built with `npm run prebuild` when missing; needs nvcc, which these machines have). */
export function ensureCudaPrebuild(): string {
  if (!existsSync(cudaPrebuild)) {
    execFileSync(process.execPath, [join(repoRoot, "scripts", "prebuild.mjs")], { cwd: repoRoot, stdio: "inherit" });
  }
  if (!existsSync(cudaPrebuild)) throw new Error(`no CUDA prebuild at ${cudaPrebuild}: is nvcc on PATH?`);
  return cudaPrebuild;
}
