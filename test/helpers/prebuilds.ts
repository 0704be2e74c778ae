// The shipped prebuilds, for tests that pack, inspect or load them. CI builds them first with
// `npm run prebuild`; a developer running one test file gets them built here (in the cached Debian 11
// root: minutes on first use).
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildNative, hostCudaToolkit } from "../../scripts/buildNative.mjs";
import type { PrebuildManifest } from "../../src/native/platform.js";

export const repoRoot = join(import.meta.dirname, "..", "..");
export const prebuildDir = join(repoRoot, "prebuilds", `${process.platform}-${process.arch}`);
export const cpuPrebuild = join(prebuildDir, "spogw.cpu.node");
export const cudaPrebuild = join(prebuildDir, "spogw.cuda.node");

/**
 * The variants `npm run prebuild` must produce here: the CPU one, CUDA 11.8 (its toolkit comes with the
 * Debian root) and CUDA 13 wherever this machine has nvcc.
 */
export function expectedVariants(): string[] {
  return hostCudaToolkit() ? ["cpu", "cuda", "cuda11"] : ["cpu", "cuda11"];
}

export function readPrebuildManifest(): PrebuildManifest | null {
  const path = join(prebuildDir, "manifest.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as PrebuildManifest) : null;
}

function complete(m: PrebuildManifest | null): m is PrebuildManifest {
  return m !== null && expectedVariants().every((v) => m.variants[v] && existsSync(join(prebuildDir, m.variants[v]!.file)));
}

function checkedManifest(): PrebuildManifest {
  const manifest = readPrebuildManifest();
  if (!complete(manifest)) throw new Error(`npm run prebuild did not produce ${expectedVariants().join(", ")} in ${prebuildDir}`);
  return manifest;
}

/** The prebuild manifest, building every expected variant first when one is missing (blocks this process). */
export function ensurePrebuildsSync(): PrebuildManifest {
  if (!complete(readPrebuildManifest())) {
    execFileSync(process.execPath, [join(repoRoot, "scripts", "prebuild.mjs")], { cwd: repoRoot, stdio: "inherit" });
  }
  return checkedManifest();
}

/** ensurePrebuildsSync in a child process, so that a long first build does not stall the test worker. */
export async function ensurePrebuilds(): Promise<PrebuildManifest> {
  if (!complete(readPrebuildManifest())) {
    await promisify(execFile)(process.execPath, [join(repoRoot, "scripts", "prebuild.mjs")], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  }
  return checkedManifest();
}

export function ensureCpuPrebuild(): string {
  ensurePrebuildsSync();
  return cpuPrebuild;
}

/** The CUDA 13 prebuild (needs nvcc on this machine, which the project machines have). */
export function ensureCudaPrebuild(): string {
  ensurePrebuildsSync();
  if (!existsSync(cudaPrebuild)) throw new Error(`no CUDA prebuild at ${cudaPrebuild}: is nvcc on PATH?`);
  return cudaPrebuild;
}

/**
 * An addon built with this machine's own toolchain (Debian 12: glibc 2.36), i.e. a prebuild that needs
 * a newer glibc than the floor: the local build when there is one, else a CPU build made for this.
 */
export function hostToolchainAddon(): string {
  const local = join(repoRoot, "native", "build", "Release", "spogw.node");
  if (existsSync(local)) return local;
  return buildNative({ cuda: "OFF", isa: "x86-64-v2", out: "native/build-host-toolchain" });
}
