// Makes sure the CPU prebuild exists for tests that pack or inspect it (CI builds it first with
// `npm run prebuild`; a developer running one test file gets it built here, in about 10 s), and says
// whether the CUDA prebuild has a GPU to run on.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { nvidiaDriverVisible } from "../../src/native/platform.js";

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

export interface CudaDevice {
  usable: boolean;
  /** The GPU the CUDA prebuild sees, or why there is none to use. */
  reason: string;
}

/**
 * Whether the CUDA prebuild can run on a GPU here. Without an NVIDIA driver nothing is loaded; with one,
 * the prebuild (built when missing) reports its devices from a child process, as the loader's probe
 * does, so that a broken driver cannot take the test process down.
 */
export function cudaDevice(): CudaDevice {
  if (!nvidiaDriverVisible()) return { usable: false, reason: "no NVIDIA driver on this machine (/dev/nvidiactl absent)" };
  const binary = ensureCudaPrebuild();
  const probe = spawnSync(process.execPath, ["-e", `process.stdout.write(JSON.stringify(require(${JSON.stringify(binary)}).info().cuda))`], { encoding: "utf8" });
  if (probe.status !== 0) return { usable: false, reason: `the CUDA prebuild could not be loaded: ${probe.stderr.trim().split("\n")[0]}` };
  const cuda = JSON.parse(probe.stdout) as { deviceCount: number; deviceName: string; error: string };
  return cuda.deviceCount > 0
    ? { usable: true, reason: `${cuda.deviceName}, through ${binary}` }
    : { usable: false, reason: `the CUDA prebuild sees no usable device: ${cuda.error}` };
}
