#!/usr/bin/env node
// Builds the binaries shipped in the npm tarball: prebuilds/<platform>-<arch>/spogw.cpu.node (portable
// x86-64-v2 baseline, OpenBLAS picks its kernels at run time) and spogw.cuda.node (the same plus CUDA
// kernels; it runs the CPU paths where no device is present), plus manifest.json recording the glibc
// floor, ISA, CUDA architectures and sha256 of each file; and spogw-sandbox-launch, the Python sandbox's
// launcher. `--cpu-only` skips the CUDA variant; without
// nvcc on PATH the CUDA variant is skipped with a message.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNative } from "./buildNative.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CUDA_ARCHITECTURES = "75-virtual;80-real;86-real;90-real"; // 89 runs the 86 cubin; newer GPUs JIT the PTX

/**
 * npm runs a script called "prebuild" before "build" whenever `npm run build` is used. That hook is not
 * a request for release binaries, so skip it: look for `npm run build` among this process's ancestors.
 */
function invokedAsBuildHook() {
  if (process.env.npm_lifecycle_event !== "prebuild") return false;
  let pid = process.ppid;
  for (let depth = 0; depth < 6 && pid > 1; depth++) {
    try {
      // npm rewrites its process title, so its argv may arrive as one string ("npm run build").
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").split(/\s+/);
      const run = argv.findIndex((a) => a === "run" || a === "run-script");
      if (run >= 0) return argv[run + 1] === "build";
      pid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/** Highest GLIBC_x.y symbol version the binary needs, read with objdump; null when objdump is absent. */
function glibcFloor(file) {
  const r = spawnSync("objdump", ["-T", file], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) return null;
  let best = null;
  for (const m of r.stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
    const v = [Number(m[1]), Number(m[2])];
    if (!best || v[0] > best[0] || (v[0] === best[0] && v[1] > best[1])) best = v;
  }
  return best ? `${best[0]}.${best[1]}` : null;
}

function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function maxVersion(a, b) {
  if (!a) return b;
  if (!b) return a;
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  return x[0] > y[0] || (x[0] === y[0] && x[1] >= y[1]) ? a : b;
}

function main() {
  if (invokedAsBuildHook()) {
    process.stderr.write("spogw-native: skipping prebuild (npm ran it as the pre-hook of `npm run build`; use `npm run prebuild`)\n");
    return;
  }
  const cpuOnly = process.argv.includes("--cpu-only");
  const outDir = join(root, "prebuilds", `${process.platform}-${process.arch}`);
  mkdirSync(outDir, { recursive: true });
  const manifest = { napi: 8, platform: `${process.platform}-${process.arch}`, glibc: null, variants: {} };

  const ship = (built, variant, extra) => {
    const dest = join(outDir, `spogw.${variant}.node`);
    copyFileSync(built, dest);
    const strip = spawnSync("strip", ["--strip-unneeded", dest]);
    if (strip.status !== 0) process.stderr.write(`spogw-native: strip failed on ${dest}; shipping it unstripped\n`);
    const floor = glibcFloor(dest);
    manifest.glibc = maxVersion(manifest.glibc, floor);
    manifest.variants[variant] = { file: `spogw.${variant}.node`, bytes: statSync(dest).size, sha256: sha256(dest), glibc: floor, ...extra };
    process.stderr.write(`spogw-native: wrote ${dest} (${(statSync(dest).size / 2 ** 20).toFixed(1)} MiB, glibc >= ${floor ?? "?"})\n`);
  };

  const cpu = buildNative({ cuda: "OFF", isa: "x86-64-v2", out: "native/build-prebuild-cpu" });
  ship(cpu, "cpu", { isa: "x86-64-v2", blas: "openblas-static" });
  // The Python sandbox's launcher (a static executable, so it needs no glibc floor of its own).
  const launcher = join(outDir, "spogw-sandbox-launch");
  copyFileSync(join(dirname(cpu), "spogw-sandbox-launch"), launcher);
  spawnSync("strip", [launcher]);
  manifest.launcher = { file: "spogw-sandbox-launch", bytes: statSync(launcher).size, sha256: sha256(launcher) };

  const nvcc = spawnSync("nvcc", ["--version"], { encoding: "utf8" });
  if (cpuOnly) process.stderr.write("spogw-native: --cpu-only: not building the CUDA variant\n");
  else if (nvcc.status !== 0) process.stderr.write("spogw-native: nvcc not found: not building the CUDA variant\n");
  else {
    const cuda = buildNative({ cuda: "ON", isa: "x86-64-v2", out: "native/build-prebuild-cuda", cudaArchitectures: CUDA_ARCHITECTURES });
    const release = nvcc.stdout.match(/release (\d+\.\d+)/)?.[1] ?? "unknown";
    ship(cuda, "cuda", { isa: "x86-64-v2", blas: "openblas-static", cudaRuntime: release, cudaArchitectures: CUDA_ARCHITECTURES.split(";") });
  }
  writeFileSync(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  process.stderr.write(`spogw-native: prebuilds ready in ${outDir} (glibc floor ${manifest.glibc})\n`);
  if (!existsSync(join(outDir, "spogw.cpu.node"))) throw new Error("the CPU prebuild is missing");
}

try {
  main();
} catch (e) {
  process.stderr.write(`spogw-native: prebuild failed: ${e.message}\n`);
  process.exit(1);
}
