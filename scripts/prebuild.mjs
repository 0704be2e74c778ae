#!/usr/bin/env node
// Builds the binaries shipped in the npm tarball into prebuilds/<platform>-<arch>/, with manifest.json:
//   spogw.cpu.node     portable x86-64-v2 baseline; OpenBLAS (static) picks its kernels at run time
//   spogw.cuda.node    the same plus CUDA kernels, CUDA 13 runtime (the host's nvcc): drivers >= 580
//   spogw.cuda11.node  the same with the CUDA 11.8 runtime (Debian's toolkit): drivers >= 450.80.02,
//                      and Volta (sm_70), which CUDA 13 dropped
// Every CUDA variant also runs every CPU path, so each loads where no GPU is.
//
//   node scripts/prebuild.mjs [--variants cpu,cuda,cuda11] [--cpu-only] [--host]
//
// By default the binaries are built inside a Debian 11 root (glibc 2.31, g++ 10; scripts/debianRoot.mjs,
// cached outside the clone and made on first use), so they load on glibc 2.31 and newer: Debian 11,
// Ubuntu 20.04, RHEL 9, Amazon Linux 2023. --host builds with this machine's own toolchain instead
// (faster, but its glibc floor is this machine's). The manifest records each file's glibc floor as read
// back with objdump, the symbols that set it, the CUDA runtime and the driver it needs.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildNative, hostCudaToolkit } from "./buildNative.mjs";
import { cacheDir, DEBIAN_SUITE, ensureRoot, runInRoot } from "./debianRoot.mjs";
import { compareVersions, glibcFloor, sha256 } from "./elfFacts.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The variants, in the loader's order of preference among CUDA builds (newest runtime first).
 * Architectures: real cubins where an older driver cannot JIT our PTX; a cubin also runs on later GPUs
 * of its major version (80 on 86/89). CUDA 13 has no sm_70; CUDA 11.8 has no sm_100/120, whose drivers
 * JIT the compute_90 PTX.
 */
const VARIANTS = {
  cpu: { cuda: "OFF" },
  cuda: { cuda: "ON", toolkit: "host", architectures: "75-virtual;80-real;86-real;90-real" },
  cuda11: { cuda: "ON", toolkit: "debian-root", architectures: "70-real;75-real;80-real;86-real;90-real;90-virtual" },
};

/**
 * Oldest Linux driver each CUDA runtime major runs on (minor version compatibility; NVIDIA's CUDA
 * compatibility guide, "CUDA Toolkit and minimum required driver version").
 */
const MIN_DRIVER_FOR_CUDA_MAJOR = { 11: "450.80.02", 12: "525.60.13", 13: "580" };

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

const say = (msg) => process.stderr.write(`spogw-native: ${msg}\n`);
const seconds = (since) => Math.round((Date.now() - since) / 100) / 10;

function parseArgs(argv) {
  const opts = { variants: Object.keys(VARIANTS), host: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--host") opts.host = true;
    else if (a === "--cpu-only") opts.variants = ["cpu"];
    else if (a === "--variants") {
      opts.variants = (argv[++i] ?? "").split(",").filter(Boolean);
      const unknown = opts.variants.filter((v) => !VARIANTS[v]);
      if (unknown.length || !opts.variants.includes("cpu")) {
        throw new Error(`--variants takes a comma-separated list of ${Object.keys(VARIANTS).join(", ")} including cpu (got "${argv[i]}")`);
      }
    } else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

/** Builds `name` inside the Debian root; returns the .node's path on the host. */
function buildInRoot(buildRoot, name, variant, cudaToolkit) {
  const out = `native/build-prebuild-${name}`;
  const ccache = join(cacheDir(), "ccache");
  mkdirSync(ccache, { recursive: true });
  const binds = [{ from: root, to: "/src" }, { from: ccache, to: "/ccache" }];
  const env = {
    CCACHE_DIR: "/ccache", CMAKE_C_COMPILER_LAUNCHER: "ccache", CMAKE_CXX_COMPILER_LAUNCHER: "ccache",
    CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? "2",
  };
  if (variant.toolkit === "host") {
    binds.push({ from: cudaToolkit, to: "/opt/cuda", readOnly: true });
    env.CUDACXX = "/opt/cuda/bin/nvcc";
    env.CMAKE_CUDA_COMPILER_LAUNCHER = "ccache";
  } else if (variant.toolkit === "debian-root") {
    env.CUDACXX = "/usr/bin/nvcc";
    env.CMAKE_CUDA_COMPILER_LAUNCHER = "ccache";
  }
  const args = ["node", "/src/scripts/buildNative.mjs", "--cuda", variant.cuda, "--isa", "x86-64-v2", "--out", out];
  if (variant.architectures) args.push("--cuda-architectures", variant.architectures);
  const r = runInRoot(buildRoot, args, { binds, env, cwd: "/src" });
  process.stderr.write(r.stderr.split("\n").filter((l) => /^\s+(ISA|BLAS|CUDA)/.test(l)).join("\n") + "\n");
  if (r.status !== 0) throw new Error(`building the ${name} prebuild in the Debian ${DEBIAN_SUITE} root failed:\n${r.stderr.trim()}`);
  return join(root, out, "Release", "spogw.node");
}

/** "13.0": the nvcc release CMake found for the build that produced `builtNode`. */
function nvccRelease(builtNode) {
  const files = join(dirname(dirname(builtNode)), "CMakeFiles");
  for (const dir of existsSync(files) ? readdirSync(files) : []) {
    const compiler = join(files, dir, "CMakeCUDACompiler.cmake");
    const m = existsSync(compiler) && readFileSync(compiler, "utf8").match(/set\(CMAKE_CUDA_COMPILER_VERSION "(\d+)\.(\d+)/);
    if (m) return `${m[1]}.${m[2]}`;
  }
  throw new Error(`no CUDA compiler version under ${files}`);
}

function main() {
  if (invokedAsBuildHook()) {
    say("skipping prebuild (npm ran it as the pre-hook of `npm run build`; use `npm run prebuild`)");
    return;
  }
  const started = Date.now();
  const opts = parseArgs(process.argv.slice(2));
  const outDir = join(root, "prebuilds", `${process.platform}-${process.arch}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const manifest = { napi: 8, platform: `${process.platform}-${process.arch}`, builtIn: opts.host ? "host" : `debian-${DEBIAN_SUITE}`, glibc: null, variants: {} };
  const timings = {};

  let buildRoot = null;
  if (!opts.host) {
    const t = Date.now();
    const r = ensureRoot("build");
    buildRoot = r.dir;
    timings.debianRoot = r.cached ? `cached (${seconds(t)} s)` : `made in ${r.seconds} s`;
    say(`building in the Debian ${DEBIAN_SUITE} root ${buildRoot} (${timings.debianRoot})`);
  }
  const cudaToolkit = hostCudaToolkit();

  for (const name of opts.variants) {
    const variant = VARIANTS[name];
    if (variant.toolkit === "host" && !cudaToolkit) {
      say(`nvcc not found on this machine (CUDA_HOME, /usr/local/cuda, PATH): not building the ${name} variant`);
      continue;
    }
    if (variant.toolkit === "debian-root" && opts.host) {
      say(`the ${name} variant's CUDA 11.8 toolkit comes with the Debian root: not built with --host`);
      continue;
    }
    const t = Date.now();
    const built = opts.host
      ? buildNative({ cuda: variant.cuda, isa: "x86-64-v2", out: `native/build-prebuild-host-${name}`, cudaArchitectures: variant.architectures })
      : buildInRoot(buildRoot, name, variant, cudaToolkit);
    const file = `spogw.${name}.node`;
    const dest = join(outDir, file);
    copyFileSync(built, dest);
    if (spawnSync("strip", ["--strip-unneeded", dest]).status !== 0) say(`strip failed on ${dest}; shipping it unstripped`);
    const glibc = glibcFloor(dest);
    const entry = { file, bytes: statSync(dest).size, sha256: sha256(dest), glibc: glibc.floor, glibcSymbols: glibc.symbols, isa: "x86-64-v2", blas: "openblas-static" };
    if (variant.cuda === "ON") {
      const release = nvccRelease(built);
      entry.cudaRuntime = release;
      entry.minDriver = MIN_DRIVER_FOR_CUDA_MAJOR[release.split(".")[0]] ?? null;
      entry.cudaArchitectures = variant.architectures.split(";");
    }
    manifest.variants[name] = entry;
    if (glibc.floor && (!manifest.glibc || compareVersions(glibc.floor, manifest.glibc) > 0)) manifest.glibc = glibc.floor;
    timings[name] = `${seconds(t)} s`;
    say(`wrote ${dest} (${(entry.bytes / 2 ** 20).toFixed(1)} MiB, glibc >= ${glibc.floor} for ${glibc.symbols.join(", ")}` +
      `${entry.cudaRuntime ? `, CUDA ${entry.cudaRuntime} runtime: driver >= ${entry.minDriver}` : ""}) in ${timings[name]}`);
  }
  if (!manifest.variants.cpu) throw new Error("the CPU prebuild is missing");
  writeFileSync(join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const stray = readdirSync(outDir).filter((f) => f !== "manifest.json" && !Object.values(manifest.variants).some((v) => v.file === f));
  if (stray.length) throw new Error(`unexpected files in ${outDir}: ${stray.join(", ")}`);
  say(`prebuilds ready in ${outDir}: ${Object.keys(manifest.variants).join(", ")} (glibc floor ${manifest.glibc}); ` +
    `${Object.entries(timings).map(([k, v]) => `${k} ${v}`).join(", ")}; total ${seconds(started)} s`);
}

try {
  main();
} catch (e) {
  say(`prebuild failed: ${e.message}`);
  process.exit(1);
}
